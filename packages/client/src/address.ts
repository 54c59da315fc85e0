/** Where a client connects: `address` (+ `port`, `useSsl`) resolved per protocol. */
export interface ResolvedAddress {
  /** Host name or IP (IPv6 in brackets). */
  host: string;
  port: number;
  useSsl: boolean;
  /** REST path prefix from a URL address ('' when none). */
  basePath: string;
}

export interface AddressOptions {
  address: string;
  port?: number;
  useSsl?: boolean;
  rootCerts?: unknown;
}

const DEFAULT_PORT = { grpc: 8500, rest: 8501 } as const;

/**
 * `host`, `host:port`, `[v6]:port` or `http(s)://host[:port][/prefix]`.
 * A URL's scheme sets TLS and, without a port, means 80/443 as URLs do; a bare
 * host without a port gets `port` or 8500 (gRPC) / 8501 (REST). Contradictions
 * between `address` and `port`/`useSsl` are errors.
 */
export function parseAddress(o: AddressOptions, protocol: 'grpc' | 'rest'): ResolvedAddress {
  if (typeof o.address !== 'string' || !o.address.trim()) throw new TypeError("'address' must be a non-empty string");
  const address = o.address.trim();
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)) {
    throw new RangeError(`'port' must be an integer in 1..65535, got ${o.port}`);
  }
  let host: string;
  let port: number | undefined;
  let basePath = '';
  let useSsl = o.useSsl;
  let implicitPort: number | undefined;

  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new TypeError(`'address' ${address} is not a valid URL`);
    }
    const scheme = url.protocol.slice(0, -1);
    if (scheme !== 'http' && scheme !== 'https') throw new TypeError(`'address' scheme ${scheme}:// is not supported; use http:// or https:// (or a bare host:port)`);
    const ssl = scheme === 'https';
    if (useSsl !== undefined && useSsl !== ssl) throw new TypeError(`'useSsl' ${useSsl} contradicts the ${scheme}:// address`);
    useSsl = ssl;
    if (url.search || url.hash || url.username) throw new TypeError(`'address' ${address} must not carry a query, fragment or credentials`);
    host = url.hostname;
    if (url.port) port = Number(url.port);
    else implicitPort = ssl ? 443 : 80;
    basePath = url.pathname.replace(/\/+$/, '');
    if (basePath && protocol === 'grpc') throw new TypeError(`'address' ${address} has a path; gRPC addresses are host:port only`);
  } else {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s[\]]+)(?::(\d+))?$/.exec(address);
    if (!m) throw new TypeError(`'address' must be host, host:port or http(s)://host:port, got ${address}`);
    host = m[1]!;
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (port !== undefined && (port < 1 || port > 65535)) throw new RangeError(`'address' port ${port} is out of range`);
  if (port !== undefined && o.port !== undefined && port !== o.port) {
    throw new TypeError(`'port' ${o.port} contradicts the port in 'address' (${port}); give it once`);
  }
  if (useSsl === undefined) useSsl = o.rootCerts !== undefined && o.rootCerts !== null;
  return { host, port: port ?? o.port ?? implicitPort ?? DEFAULT_PORT[protocol], useSsl, basePath };
}
