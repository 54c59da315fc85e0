import type { PreprocessSpec } from '../preprocess/spec';
import type { Params } from './params';

interface ArchitectureBase {
  /** Catalogue name, e.g. `resnet50`. */
  name: string;
  title: string;
  /** Name scope of output tensors, e.g. `resnet_v1_50` -> `classifier/resnet_v1_50/predictions/Softmax:0`. */
  scope: string;
  preprocess: PreprocessSpec;
  /** Learnable parameters of the published model with its default head (tests check the build matches). */
  publishedParameters: number;
  /** Multiply-adds per image, as published, in billions. */
  publishedGmacs: number;
  reference: string;
}

/** A classifier: a featurizer ending in pooled features, and the default ImageNet head on top. */
export interface ClassifierArchitecture extends ArchitectureBase {
  kind: 'classifier';
  /** Builds the featurizer on `input` (NCHW); returns the feature tensor [N, channels]. */
  featurizer(p: Params, input: string): { output: string; channels: number };
  /** The ImageNet head on the features: logits [N, 1000]. */
  imagenetHead(p: Params, features: string, channels: number): string;
}

/** A detector: raw outputs (box regressions and class scores per feature-map scale). */
export interface DetectorArchitecture extends ArchitectureBase {
  kind: 'detector';
  /** Builds the whole network on `input`; returns its raw outputs in order, with their shapes. */
  build(p: Params, input: string): Array<{ name: string; tensor: string; shape: Array<number | string> }>;
}

export type Architecture = ClassifierArchitecture | DetectorArchitecture;
