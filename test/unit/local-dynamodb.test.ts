// Which DynamoDB endpoints get fake local credentials and which the environment's own.
import { describe, expect, it } from 'vitest';
import { LOCAL_AWS, awsFor, isLocalEndpoint } from '../../local/dynamodb.js';

describe('the local DynamoDB endpoint choice', () => {
  it.each([
    'http://127.0.0.1:8000',
    'http://localhost:8000',
    'http://[::1]:8000',
    'http://127.1.2.3',
  ])('treats %s as on this machine, with fake credentials', (endpoint) => {
    expect(isLocalEndpoint(endpoint)).toBe(true);
    expect(awsFor(endpoint)).toBe(LOCAL_AWS);
  });

  it.each([
    'https://dynamodb.eu-west-1.amazonaws.com',
    'http://10.0.0.5:8000',
    'http://localhost.example.com',
  ])('treats %s as a real table, with the environment’s credentials', (endpoint) => {
    expect(isLocalEndpoint(endpoint)).toBe(false);
    expect(awsFor(endpoint)).toEqual({});
  });
});
