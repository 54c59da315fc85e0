import type { DeployTargetType, ServiceState } from '../workspace/types';

/** Everything a target needs to run one service. */
export interface DeploySpec {
  service: string;
  /** Image id (`name:version`) and its OCI image layout folder (absolute). */
  image: string;
  layoutDir: string;
  /** Image reference inside the layout (`index.json` annotation `org.opencontainers.image.ref.name`). */
  layoutRef: string;
  /** Models the image serves: name, version, and where their files are unpacked (local target). */
  models: { name: string; version: number; dir: string }[];
  replicas: number;
  autoscale?: { min: number; max: number; targetUtilization: number };
  /** API keys the server must require (primary, secondary); absent: no auth. */
  keys?: { primary: string; secondary: string };
  /** PEM contents of the server certificate and key; absent: plain text. */
  tls?: { cert: string; key: string };
  /** Accelerators the service takes (one model per accelerator). */
  accelerators: number;
  /** The service's own folder (logs, keys file, state), created by the caller. */
  workDir: string;
  /** Target-specific settings from the compute record (namespace, kubeconfig context...). */
  properties: Record<string, string>;
}

/** What a target returns after starting a service, stored in the service record. */
export interface Deployed {
  /** REST base URL clients score against (`http(s)://host:port`). */
  scoringUri: string;
  /** gRPC address (`host:port`). */
  grpcUri: string;
  /** Handles to find the running service again (pid, container id, netns, namespace...). */
  runtime: Record<string, unknown>;
}

/** One kind of place services run: `local` (supervised process), `container` (runc), `kubernetes`. */
export interface DeployTarget {
  readonly type: DeployTargetType;
  /** Starts the service and returns at once (not waiting for it to be healthy). */
  start(spec: DeploySpec, log: (line: string) => void): Promise<Deployed>;
  /** Current state, probing the service's readiness endpoint. */
  status(runtime: Record<string, unknown>, deployed: Deployed): Promise<{ state: ServiceState; detail?: string }>;
  /** The service's recent log output. */
  logs(runtime: Record<string, unknown>, tailLines?: number): Promise<string>;
  /** Stops the service and frees what it held (processes, containers, namespaces). Idempotent. */
  stop(runtime: Record<string, unknown>): Promise<void>;
}
