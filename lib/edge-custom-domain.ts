import { Arn, ArnFormat, Token } from 'aws-cdk-lib';
import type { IHostedZone } from 'aws-cdk-lib/aws-route53';

/** A custom domain for an {@link EdgeFrontDoor}. */
export interface EdgeCustomDomain {
  /** The domain name viewers use, e.g. `signal.example.com`. No default. */
  readonly domainName: string;

  /**
   * The ARN of an ACM certificate covering `domainName`. CloudFront only uses certificates
   * from us-east-1; an ARN whose region is known at synth and is not us-east-1 is rejected.
   * No default.
   */
  readonly certificateArn: string;

  /**
   * A Route 53 public hosted zone holding `domainName`: when given, A and AAAA alias records
   * point the name at the distribution.
   * @default - no DNS records; point `domainName` at the distribution yourself
   */
  readonly hostedZone?: IHostedZone;
}

/** Throws, saying why, when a custom domain cannot be served (tokens are not checked). */
export function validateCustomDomain(domain: EdgeCustomDomain): void {
  const { domainName, certificateArn, hostedZone } = domain;
  if (
    !Token.isUnresolved(domainName) &&
    !/^(?!-)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(domainName)
  ) {
    throw new Error(
      `EdgeFrontDoor: customDomain.domainName must be a host name, got ${JSON.stringify(domainName)}`,
    );
  }
  if (!Token.isUnresolved(certificateArn)) {
    let service: string;
    let region: string | undefined;
    try {
      ({ service, region } = Arn.split(certificateArn, ArnFormat.SLASH_RESOURCE_NAME));
    } catch {
      throw new Error(
        `EdgeFrontDoor: customDomain.certificateArn is not an ARN: ${JSON.stringify(certificateArn)}`,
      );
    }
    if (service !== 'acm') {
      throw new Error('EdgeFrontDoor: customDomain.certificateArn must be an ACM certificate ARN');
    }
    if (region !== undefined && !Token.isUnresolved(region) && region !== 'us-east-1') {
      throw new Error(
        `EdgeFrontDoor: CloudFront only uses ACM certificates from us-east-1; customDomain.certificateArn is in ${region}`,
      );
    }
  }
  if (hostedZone && !Token.isUnresolved(domainName) && !Token.isUnresolved(hostedZone.zoneName)) {
    const zone = hostedZone.zoneName.replace(/\.$/, '').toLowerCase();
    const name = domainName.toLowerCase();
    if (name !== zone && !name.endsWith(`.${zone}`)) {
      throw new Error(
        `EdgeFrontDoor: customDomain.domainName ${domainName} is not in the hosted zone ${zone}`,
      );
    }
  }
}
