import { activationLayers } from './activations';
import { convLayers } from './conv';
import { coreLayers } from './core';
import type { Lowering, LoweringTable } from './lowering';
import { mergeLayers } from './merge';
import { normalizationLayers } from './normalization';
import { poolingLayers } from './pooling';
import { spatialLayers } from './spatial';

const FAMILIES: LoweringTable[] = [coreLayers, activationLayers, convLayers, poolingLayers, normalizationLayers, mergeLayers, spatialLayers];

/** Every supported Keras layer, by class name. */
export const LOWERINGS: ReadonlyMap<string, Lowering> = new Map(FAMILIES.flatMap((t) => Object.entries(t)));

/** Layers known not to convert, with the reason users get. */
export const UNCONVERTIBLE: Readonly<Record<string, string>> = {
  Lambda: 'it runs Python code that the model file does not hold; rewrite it with built-in layers',
  TFOpLambda: 'it calls a raw TensorFlow function the file does not describe; rewrite it with built-in layers',
  SlicingOpLambda: 'it calls a raw TensorFlow function the file does not describe; rewrite it with built-in layers',
};
