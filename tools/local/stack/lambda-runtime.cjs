'use strict';
/**
 * One Lambda execution environment of local mode: loads the function's bundle from its asset
 * directory (LAMBDA_TASK_ROOT) with its handler (_HANDLER, `index.handler`) once, as the INIT phase
 * does, then serves one invocation at a time, sent by the parent over the IPC channel. Plain
 * JavaScript on plain Node, so the bundle runs as it does in the managed runtime: no loader hooks,
 * no TypeScript, nothing of this repository on its module path. Its argument names the bundle, for
 * `ps`; what it loads is LAMBDA_TASK_ROOT and _HANDLER, as the managed runtime does.
 */
const { join } = require('node:path');

const [file, exported] = splitHandler(process.env._HANDLER || 'index.handler');
let handler;
try {
  const mod = require(join(process.env.LAMBDA_TASK_ROOT, file));
  handler = exported.split('.').reduce((value, key) => (value == null ? value : value[key]), mod);
  if (typeof handler !== 'function') throw new Error(`${process.env._HANDLER} is undefined or not exported`);
} catch (err) {
  send({ type: 'init-error', error: describe(err) });
  process.exit(1);
}
send({ type: 'ready' });

process.on('message', (message) => {
  if (!message || message.type !== 'invoke') return;
  const { id, event, deadline, requestId, functionArn } = message;
  invoke(event, context(requestId, deadline, functionArn)).then(
    (result) => send({ type: 'result', id, result: result === undefined ? null : result }),
    (err) => send({ type: 'error', id, error: describe(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
// Profiled (REGISTRY_CPU_PROFILE_DIR): V8 writes the profile on an exit, which SIGTERM alone is not.
if (process.execArgv.includes('--cpu-prof')) process.on('SIGTERM', () => process.exit(0));
// As in the managed runtime: an exception nobody catches ends the environment.
process.on('uncaughtException', (err) => {
  console.error(`Uncaught exception: ${err && err.stack ? err.stack : err}`);
  process.exit(129);
});

function invoke(event, ctx) {
  return new Promise((resolve, reject) => {
    const callback = (err, result) => (err ? reject(err) : resolve(result));
    try {
      const out = handler(event, ctx, callback);
      if (out && typeof out.then === 'function') out.then(resolve, reject);
      else if (handler.length < 3) resolve(out);
    } catch (err) {
      reject(err);
    }
  });
}

function context(requestId, deadline, functionArn) {
  const env = process.env;
  return {
    awsRequestId: requestId,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: functionArn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function splitHandler(spec) {
  const dot = spec.indexOf('.');
  return [spec.slice(0, dot), spec.slice(dot + 1)];
}

function describe(err) {
  if (err instanceof Error) return { errorType: err.name, errorMessage: err.message, stack: err.stack };
  return { errorType: 'Error', errorMessage: String(err) };
}

function send(message) {
  if (process.send) process.send(message);
}
