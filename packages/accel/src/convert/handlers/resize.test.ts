import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';

const grids = [
  { name: 'legacy (asymmetric)', align: false, half: false },
  { name: 'align_corners', align: true, half: false },
  { name: 'half_pixel_centers', align: false, half: true },
];
const cases = [
  { name: 'up 5x7 -> 9x12', from: [5, 7], to: [9, 12] },
  { name: 'down 9x11 -> 4x6', from: [9, 11], to: [4, 6] },
  { name: 'up 2x, 4x3 -> 8x6', from: [4, 3], to: [8, 6] },
];

function resizeGraph(op: string, shape: number[], to: number[], grid: { align: boolean; half: boolean }) {
  const b = new TfGraphBuilder();
  const x = b.placeholder('x', shape);
  const size = b.const('size', tensor('int32', [2], to));
  const y = b.op(op, 'resize', [x, size], { align_corners: tfAttr.b(grid.align), half_pixel_centers: tfAttr.b(grid.half) });
  return { tf: b.build([x], [y]), y };
}

for (const op of ['ResizeBilinear', 'ResizeNearestNeighbor']) {
  describe(`${op} matches TF.js`, () => {
    for (const grid of grids) {
      for (const c of cases) {
        it(`${grid.name}, ${c.name}, batch 2`, async () => {
          const { tf, y } = resizeGraph(op, [-1, ...c.from, 3], c.to, grid);
          const feed = tensor('float32', [2, ...c.from, 3], randomFloats(2 * c.from[0]! * c.from[1]! * 3, 5));
          await expectConvertsLikeTfjs(tf, { 'x:0': feed }, [y], { passes: c.to[0] !== 4 });
        });
      }
    }
  });
}

describe('resize sizes', () => {
  it('are a constant when batch and channels are known', async () => {
    const { tf, y } = resizeGraph('ResizeBilinear', [2, 5, 7, 3], [3, 4], grids[2]!);
    const onnx = await expectConvertsLikeTfjs(tf, { 'x:0': tensor('float32', [2, 5, 7, 3], randomFloats(210, 2)) }, [y], { passes: false });
    expect(onnx.nodes.some((n) => n.op === 'Shape')).toBe(false);
  });

  it('may come from a tensor computed at run time', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 5, 7, 3]);
    const size = b.placeholder('size', [2], 'int32');
    const y = b.op('ResizeNearestNeighbor', 'resize', [x, size], { align_corners: tfAttr.b(false), half_pixel_centers: tfAttr.b(true) });
    const feeds = { 'x:0': tensor('float32', [2, 5, 7, 3], randomFloats(210, 2)), 'size:0': tensor('int32', [2], [8, 3]) };
    await expectConvertsLikeTfjs(b.build([x, size], [y]), feeds, [y]);
  });

  it('refuses align_corners together with half_pixel_centers', () => {
    const { tf, y } = resizeGraph('ResizeBilinear', [-1, 5, 7, 3], [3, 4], { align: true, half: true });
    expect(() => mapGraph(tf, { inputs: ['x:0'], outputs: [y] })).toThrow(/cannot both be true/);
  });
});
