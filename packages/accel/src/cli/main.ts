import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench';
import { certsCommand } from './certs';
import { demoCommand } from './demo';
import { EXIT, reportError, type OutputFormat } from './output';
import { predictCommand } from './predict';
import { quantizeCommand } from './quantize';
import { serveCommand } from './serve';
import { computeCommand, usageCommand } from './compute';
import { convertCommand } from './convert';
import { imageCommand } from './image';
import { deployCommand, serviceCommand } from './service';
import { jobCommand } from './job';
import { modelCommand } from './model';
import { uiCommand } from './ui';
import { workspaceGroup } from './workspace';
import { zooCommand } from './zoo';

/** The `accel` program with every command group. */
export function buildProgram(): Command {
  const program = new Command('accel')
    .description('Accel: image models from a framework file to a low-latency prediction service')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  for (const cmd of [serveCommand(), certsCommand(), predictCommand(), benchCommand(), workspaceGroup(), modelCommand(), convertCommand(), quantizeCommand(), imageCommand(), deployCommand(), serviceCommand(), jobCommand(), computeCommand(), usageCommand(), zooCommand(), demoCommand(), uiCommand()]) program.addCommand(cmd);
  const strict = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(strict);
  };
  strict(program);
  return program;
}

function formatOf(argv: string[]): OutputFormat {
  const i = argv.findIndex((a) => a === '-o' || a === '--output');
  const v = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--output='))?.slice(9);
  return v === 'json' || v === 'yaml' ? v : 'table';
}

/** Runs the CLI and returns its exit code: 0 ok, 1 error, 2 usage. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // Commands whose outcome is not an error but still not a success (a failed job) set exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    return reportError(formatOf(argv), err);
  }
}
