/** The worker side of loadConfigIsolated (isolated.ts): one loadConfig, its result posted back. */
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadOptions, loadConfig } from './index.js';

const { file, options } = workerData as { file: string; options: LoadOptions };
const result = await loadConfig(file, options);
parentPort?.postMessage(result);
