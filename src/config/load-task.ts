/**
 * The thread that parses and validates a large configuration file (see loadConfigFile): it
 * posts the result and ends, and with it the parser's whole heap (a YAML document of 100,000
 * routes leaves a few hundred MiB behind in whichever thread parsed it).
 *
 * This file must be built: load.ts starts dist/config/load-task.js.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseConfigText, type ConfigFormat } from './load.js';

const { text, format } = workerData as { text: string; format: ConfigFormat };
parentPort!.postMessage(parseConfigText(text, format));
