/**
 * TensorFlow.js backend: tfjs-node when it is installed (native, fastest), else the wasm backend. Both run
 * the same model files. Call once before building or loading a model.
 */
import * as tf from '@tensorflow/tfjs';

let ready: Promise<string> | null = null;

export function initBackend(prefer: 'auto' | 'wasm' | 'cpu' = 'auto'): Promise<string> {
  ready ??= (async () => {
    if (prefer === 'auto') {
      try {
        await import(/* optional */ '@tensorflow/tfjs-node' as string);
        if (await tf.setBackend('tensorflow')) return tf.getBackend();
      } catch {
        /* not installed: wasm */
      }
    }
    if (prefer !== 'cpu') {
      await import('@tensorflow/tfjs-backend-wasm');
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return tf.getBackend();
      }
    }
    await tf.setBackend('cpu');
    await tf.ready();
    return tf.getBackend();
  })();
  return ready;
}
