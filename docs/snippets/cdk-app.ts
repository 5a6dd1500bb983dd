import { App, CfnOutput, Stack } from 'aws-cdk-lib';
import { EdgeFrontDoor, SignalMonitoring, SignalServer } from 'cevitxe-signal-serverless';

const app = new App();
const stack = new Stack(app, 'Signal', { env: { region: 'eu-west-1' } });
const server = new SignalServer(stack, 'Server', { stageName: 'prod' });
new SignalMonitoring(stack, 'Monitoring', { server, alarmEmail: 'ops@example.com' });
const edge = new EdgeFrontDoor(stack, 'Edge', { stage: server.stage });
new CfnOutput(stack, 'Url', { value: edge.webSocketUrl });
