import { Command, Option } from 'commander';
import { AccelError } from '../errors';
import type { ServiceRecord } from '../workspace/types';
import { withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { emit, EXIT, renderTable } from './output';

const int = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${flag} takes a whole number, got "${v}"` });
  return n;
};

/** A service as shown: keys only when auth is on. */
function view(s: ServiceRecord) {
  return { name: s.name, state: s.state, image: s.image, compute: s.compute, target: s.target, scoringUri: s.scoringUri, grpcUri: s.grpcUri, keys: s.keys.primary ? s.keys : undefined, config: s.config, errors: s.errors || undefined, createdAt: s.createdAt, updatedAt: s.updatedAt };
}

function table(s: ServiceRecord): string {
  const rows: string[][] = [['name', s.name], ['state', s.state], ['image', s.image], ['compute', `${s.compute} (${s.target})`], ['scoring URI', s.scoringUri || '-'], ['gRPC', s.grpcUri || '-']];
  if (s.keys.primary) rows.push(['primary key', s.keys.primary], ['secondary key', s.keys.secondary ?? '']);
  rows.push(['errors', s.errors || '-'], ['created', s.createdAt], ['updated', s.updatedAt]);
  return renderTable(['FIELD', 'VALUE'], rows);
}

interface DeployFlags extends CommonFlags {
  image: string;
  target: string;
  replicas: number;
  autoscale?: boolean;
  min: number;
  max: number;
  targetUtilization: number;
  auth?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  replace?: string;
  dryRun?: boolean;
  wait: boolean;
  timeout: number;
}

/** `accel deploy NAME --image IMAGE --target COMPUTE`: an image as a web service. */
export function deployCommand(): Command {
  return workspaceCommand('deploy', 'Deploy an image as a web service on a compute target (local process, runc container, Kubernetes) and wait until it is healthy')
    .argument('<name>', 'service name: lowercase letters, digits and "-", starting with a letter')
    .requiredOption('--image <image>', 'NAME[:VERSION] of a built image')
    .requiredOption('--target <compute>', 'compute target (see `accel compute list`)')
    .option('--replicas <n>', 'replicas (Kubernetes)', int('--replicas'), 1)
    .option('--autoscale', 'autoscale between --min and --max replicas (Kubernetes HorizontalPodAutoscaler)')
    .option('--min <n>', 'autoscale: fewest replicas', int('--min'), 1)
    .option('--max <n>', 'autoscale: most replicas', int('--max'), 4)
    .option('--target-utilization <percent>', 'autoscale: CPU utilization to aim for', int('--target-utilization'), 70)
    .option('--auth', 'require an API key on every protocol (two keys: primary and secondary)')
    .option('--tls-cert <file>', 'PEM certificate: serve gRPC and REST over TLS')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--replace <service>', 'stop this service first and take its accelerator (switch the model on an edge box); reports the downtime')
    .option('--dry-run', 'print what would be deployed (Kubernetes: the manifests) and change nothing')
    .option('--no-wait', 'return once started, without waiting for Healthy')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for Healthy').argParser(int('--timeout')).default(300))
    .action(async (name: string, flags: DeployFlags) => {
      const code = await withWorkspace(flags, async (ws, format) => {
        const autoscale = flags.autoscale ? { min: flags.min, max: flags.max, targetUtilization: flags.targetUtilization } : undefined;
        if (autoscale && (autoscale.min < 1 || autoscale.max < autoscale.min)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--min ${autoscale.min} --max ${autoscale.max}: need 1 <= min <= max` });
        const opts = { name, image: flags.image, compute: flags.target, replicas: flags.replicas, autoscale, auth: flags.auth, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey, replace: flags.replace, wait: flags.wait, timeoutMs: flags.timeout * 1000 };
        if (flags.dryRun) {
          const { dryRun } = await import('../deploy/dry-run');
          const plan = await dryRun(ws, opts);
          emit(format, plan.objects ?? plan, () => plan.text);
          return EXIT.OK;
        }
        const { deployService } = await import('../deploy/deploy');
        const log = (line: string) => process.stderr.write(`${line}\n`);
        const result = await deployService(ws, opts, log);
        const timing = { readySeconds: result.readyMs === undefined ? undefined : result.readyMs / 1000, downtimeSeconds: result.downtimeMs === undefined ? undefined : result.downtimeMs / 1000 };
        emit(format, { ...view(result.service), ...timing }, () => {
          const extra = [
            timing.readySeconds === undefined ? '' : `ready in ${timing.readySeconds.toFixed(1)} s`,
            timing.downtimeSeconds === undefined ? '' : `downtime ${timing.downtimeSeconds.toFixed(1)} s (old service stopped -> new one healthy)`,
          ].filter(Boolean);
          return `${table(result.service)}${extra.length ? `\n${extra.join('; ')}` : ''}`;
        });
        return EXIT.OK;
      });
      process.exitCode = code;
    });
}

/** `accel service`: deployed services. */
export function serviceCommand(): Command {
  const service = new Command('service').description('Deployed services: list, show, logs, wait, regen-key, delete');

  service.addCommand(
    workspaceCommand('list', 'List services with their state and scoring URI').action(async (flags: CommonFlags) => {
      await withWorkspace(flags, async (ws, format) => {
        const { refreshService } = await import('../deploy/deploy');
        const list = await Promise.all((await ws.listServices()).map((s) => refreshService(ws, s.name).catch(() => s)));
        emit(format, list.map(view), () => renderTable(['SERVICE', 'STATE', 'IMAGE', 'COMPUTE', 'SCORING URI'], list.map((s) => [s.name, s.state, s.image, s.compute, s.scoringUri || '-'])));
      });
    }),
  );

  service.addCommand(
    workspaceCommand('show', 'Show a service: state, scoring URI, keys (with --auth), errors')
      .argument('<name>')
      .action(async (name: string, flags: CommonFlags) => {
        await withWorkspace(flags, async (ws, format) => {
          const { refreshService } = await import('../deploy/deploy');
          const s = await refreshService(ws, name);
          emit(format, view(s), () => table(s));
        });
      }),
  );

  service.addCommand(
    workspaceCommand('logs', "Print the service's recent log output")
      .argument('<name>')
      .option('--tail <lines>', 'lines to show', int('--tail'), 100)
      .action(async (name: string, flags: CommonFlags & { tail: number }) => {
        await withWorkspace(flags, async (ws, format) => {
          const s = await ws.getService(name);
          const { targetFor } = await import('../deploy/deploy');
          const text = await (await targetFor(s.target)).logs(s.runtime, flags.tail);
          emit(format, { service: name, log: text }, () => text.trimEnd());
        });
      }),
  );

  service.addCommand(
    workspaceCommand('wait', 'Wait until the service is Healthy (exit 1 if it fails or times out)')
      .argument('<name>')
      .addOption(new Option('--timeout <seconds>', 'how long to wait').argParser(int('--timeout')).default(300))
      .action(async (name: string, flags: CommonFlags & { timeout: number }) => {
        await withWorkspace(flags, async (ws, format) => {
          const { waitForService } = await import('../deploy/deploy');
          const s = await waitForService(ws, name, { timeoutMs: flags.timeout * 1000, onState: (state, d) => process.stderr.write(`${name}: ${state}${d ? ` (${d})` : ''}\n`) });
          emit(format, view(s), () => table(s));
        });
      }),
  );

  service.addCommand(
    workspaceCommand('regen-key', 'Replace the primary or secondary key (the other stays valid: rotate without downtime)')
      .argument('<name>')
      .addOption(new Option('--key <which>', 'which key').choices(['primary', 'secondary']).makeOptionMandatory())
      .action(async (name: string, flags: CommonFlags & { key: 'primary' | 'secondary' }) => {
        await withWorkspace(flags, async (ws, format) => {
          const { regenerateKey } = await import('../deploy/deploy');
          const s = await regenerateKey(ws, name, flags.key);
          emit(format, { service: name, keys: s.keys }, () => `${name}: new ${flags.key} key ${s.keys[flags.key]}`);
        });
      }),
  );

  service.addCommand(
    workspaceCommand('delete', 'Stop a service and delete it, freeing its accelerator')
      .argument('<name>')
      .option('--dry-run', 'print what would be deleted')
      .action(async (name: string, flags: CommonFlags & { dryRun?: boolean }) => {
        await withWorkspace(flags, async (ws, format) => {
          await ws.getService(name);
          const plan = await ws.delete([{ kind: 'service', id: name }], { dryRun: flags.dryRun });
          emit(format, plan, () => plan.map((r) => `${flags.dryRun ? 'would delete' : 'deleted'} ${r.kind} ${r.id}`).join('\n'));
        });
      }),
  );

  service.addCommand(
    new Command('supervise')
      .description('Run and restart a local service\'s server (started by `accel deploy` on a local target)')
      .argument('<dir>', 'the service folder holding supervise.json')
      .action(async (dir: string) => {
        const { runSupervisor } = await import('../deploy/supervisor');
        await runSupervisor(dir);
      }),
    { hidden: true },
  );
  return service;
}
