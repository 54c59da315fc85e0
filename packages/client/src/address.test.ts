import { describe, expect, it } from 'vitest';
import { parseAddress } from './address';

describe('parseAddress', () => {
  it('defaults the port per protocol for a bare host', () => {
    expect(parseAddress({ address: 'svc.example' }, 'grpc')).toEqual({ host: 'svc.example', port: 8500, useSsl: false, basePath: '' });
    expect(parseAddress({ address: 'svc.example' }, 'rest').port).toBe(8501);
    expect(parseAddress({ address: 'svc.example', port: 9000 }, 'grpc').port).toBe(9000);
  });

  it('reads host:port and bracketed IPv6', () => {
    expect(parseAddress({ address: '10.0.0.5:7000' }, 'grpc')).toMatchObject({ host: '10.0.0.5', port: 7000 });
    expect(parseAddress({ address: '[::1]:7000' }, 'grpc')).toMatchObject({ host: '[::1]', port: 7000 });
    expect(parseAddress({ address: 'h:7000', port: 7000 }, 'grpc').port).toBe(7000);
  });

  it('lets a URL scheme set TLS; a URL without a port means 80/443', () => {
    expect(parseAddress({ address: 'https://svc.example:8443' }, 'grpc')).toEqual({ host: 'svc.example', port: 8443, useSsl: true, basePath: '' });
    expect(parseAddress({ address: 'http://svc.example:8501' }, 'rest')).toMatchObject({ useSsl: false, port: 8501 });
    expect(parseAddress({ address: 'https://svc.example' }, 'rest').port).toBe(443);
    expect(parseAddress({ address: 'http://svc.example' }, 'rest').port).toBe(80);
    expect(parseAddress({ address: 'https://svc.example/accel/resnet/' }, 'rest').basePath).toBe('/accel/resnet');
  });

  it('turns TLS on when rootCerts are given', () => {
    expect(parseAddress({ address: 'h', rootCerts: 'PEM' }, 'grpc').useSsl).toBe(true);
    expect(parseAddress({ address: 'h', rootCerts: 'PEM', useSsl: false }, 'grpc').useSsl).toBe(false);
  });

  it('refuses contradictions and garbage, naming the parameter', () => {
    expect(() => parseAddress({ address: 'https://h:1', useSsl: false }, 'grpc')).toThrow("'useSsl' false contradicts the https:// address");
    expect(() => parseAddress({ address: 'h:1', port: 2 }, 'grpc')).toThrow("'port' 2 contradicts the port in 'address' (1)");
    expect(() => parseAddress({ address: 'h', port: 70000 }, 'grpc')).toThrow("'port' must be an integer in 1..65535");
    expect(() => parseAddress({ address: 'ftp://h' }, 'grpc')).toThrow("'address' scheme ftp:// is not supported");
    expect(() => parseAddress({ address: 'http://h:1/x' }, 'grpc')).toThrow('gRPC addresses are host:port only');
    expect(() => parseAddress({ address: 'h:port' }, 'grpc')).toThrow("'address' must be host, host:port or http(s)://host:port");
    expect(() => parseAddress({ address: '' }, 'grpc')).toThrow("'address' must be a non-empty string");
  });
});
