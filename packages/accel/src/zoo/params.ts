import { AccelError } from '../errors';
import { GraphBuilder, seededRandom } from '../onnx/builder';

/** How a parameter starts when no weights are given (seeded, for speed tests only). */
export type Init = 'he' | 'zeros' | 'ones' | 'small';

/** Named tensors to load (e.g. the initializers of a weights file), by torchvision state_dict name. */
export type WeightTable = ReadonlyMap<string, { dims: readonly number[]; data: Float32Array }>;

/**
 * Creates a model's initializers by name: from a weight table when given (shape checked),
 * else seeded random values. Counts learnable parameters (conv/linear/BN weights and biases;
 * BN running statistics are buffers, as in the published counts).
 */
export class Params {
  learnable = 0;
  readonly used = new Set<string>();
  private readonly rand: () => number;

  constructor(
    readonly g: GraphBuilder,
    private readonly table?: WeightTable,
    seed = 1,
  ) {
    this.rand = seededRandom(seed);
  }

  /** A learnable parameter; returns the initializer's tensor name. */
  param(name: string, dims: number[], init: Init): string {
    this.learnable += dims.reduce((a, b) => a * b, 1);
    return this.tensor(name, dims, init);
  }

  /** A non-learnable buffer (BN running mean/var). */
  buffer(name: string, dims: number[], init: Init): string {
    return this.tensor(name, dims, init);
  }

  /** Names in the table that the model did not use (a weights file for another model). */
  unused(): string[] {
    return this.table ? [...this.table.keys()].filter((k) => !this.used.has(k)) : [];
  }

  private tensor(name: string, dims: number[], init: Init): string {
    this.used.add(name);
    const count = dims.reduce((a, b) => a * b, 1);
    if (this.table) {
      const t = this.table.get(name);
      if (!t) throw new AccelError('ACCEL_ERR_USAGE', { reason: `the weights have no tensor "${name}" (expected shape [${dims.join(',')}])` });
      if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
        throw new AccelError('ACCEL_ERR_USAGE', { reason: `weights tensor "${name}" has shape [${t.dims.join(',')}], the model needs [${dims.join(',')}]` });
      }
      return this.g.initializer(name, dims, t.data);
    }
    return this.g.initializer(name, dims, this.random(init, dims, count));
  }

  private random(init: Init, dims: number[], count: number): Float32Array {
    const out = new Float32Array(count);
    if (init === 'zeros') return out;
    if (init === 'ones') return out.fill(1);
    // He-normal on the fan-in (dims after the first); 'small' keeps residual branches and heads tame.
    const fanIn = dims.length > 1 ? dims.slice(1).reduce((a, b) => a * b, 1) : dims[0];
    const std = (init === 'small' ? 0.2 : 1) * Math.sqrt(2 / fanIn);
    for (let i = 0; i < count; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.rand()));
      const t = 2 * Math.PI * this.rand();
      out[i] = r * Math.cos(t) * std;
      if (i + 1 < count) out[i + 1] = r * Math.sin(t) * std;
    }
    return out;
  }
}
