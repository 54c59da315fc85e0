import type { DType } from '../../onnx/graph';
import { dtypeFromTf, shapeFromTf, type TfAttrValue, type TfNode } from './graph';

function decodeBytes(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Typed reads of a node's attributes, with defaults; a missing attribute without default throws. */
export class TfAttrs {
  constructor(private readonly node: TfNode) {}

  has(name: string): boolean {
    return this.node.attr[name] !== undefined;
  }

  private get(name: string): TfAttrValue {
    const a = this.node.attr[name];
    if (a === undefined) throw new Error(`attribute "${name}" missing`);
    return a;
  }

  int(name: string, dflt?: number): number {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return Number(this.get(name).i ?? 0);
  }

  float(name: string, dflt?: number): number {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return Number(this.get(name).f ?? 0);
  }

  bool(name: string, dflt?: boolean): boolean {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return Boolean(this.get(name).b ?? false);
  }

  /** A string (bytes) attribute, decoded as UTF-8. */
  str(name: string, dflt?: string): string {
    if (!this.has(name) && dflt !== undefined) return dflt;
    const s = this.get(name).s;
    return s === undefined ? '' : decodeBytes(s);
  }

  type(name: string, dflt?: DType): DType {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return dtypeFromTf(this.get(name).type ?? 'DT_FLOAT');
  }

  ints(name: string, dflt?: number[]): number[] {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return (this.get(name).list?.i ?? []).map(Number);
  }

  floats(name: string, dflt?: number[]): number[] {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return (this.get(name).list?.f ?? []).map(Number);
  }

  strs(name: string, dflt?: string[]): string[] {
    if (!this.has(name) && dflt !== undefined) return dflt;
    return (this.get(name).list?.s ?? []).map(decodeBytes);
  }

  types(name: string): DType[] {
    return (this.get(name).list?.type ?? []).map(dtypeFromTf);
  }

  /** A shape attribute: dims with -1 for unknown, or null for unknown rank. */
  shape(name: string): number[] | null {
    return shapeFromTf(this.get(name).shape);
  }
}

/** Attribute value builders, for graphs written in code (tests, layers-model lowering). */
export const tfAttr = {
  s: (v: string): TfAttrValue => ({ s: Buffer.from(v, 'utf8').toString('base64') }),
  i: (v: number): TfAttrValue => ({ i: String(v) }),
  f: (v: number): TfAttrValue => ({ f: v }),
  b: (v: boolean): TfAttrValue => ({ b: v }),
  type: (v: string): TfAttrValue => ({ type: v }),
  ints: (v: number[]): TfAttrValue => ({ list: { i: v.map(String) } }),
  floats: (v: number[]): TfAttrValue => ({ list: { f: v } }),
  strs: (v: string[]): TfAttrValue => ({ list: { s: v.map((x) => Buffer.from(x, 'utf8').toString('base64')) } }),
  shape: (dims: number[]): TfAttrValue => ({ shape: { dim: dims.map((d) => ({ size: String(d) })) } }),
};
