import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { MemoryModeStore } from '../../lambda/adapters/memory/memory-mode-store';
import { FileModeStore, MODE_FILE } from '../../lambda/adapters/modefile/file-mode-store';
import { SsmModeStore } from '../../lambda/adapters/ssm/ssm-mode-store';
import { MODE_PATTERN } from '../../lambda/config/observability';
import { UnavailableError } from '../../lambda/core/errors';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { startMoto, type RunningMoto } from '../../tools/local/moto-server';
import { ensureMoto } from '../../tools/local/tools';
import { modeStoreContract } from './mode-store.contract';

modeStoreContract('memory', async () => new MemoryModeStore());
modeStoreContract('file (local mode)', async () => new FileModeStore(mkdtempSync(join(tmpdir(), 'mode-'))));

// SSM: moto's server, started for this file only, or the environment's endpoint (e.g. LocalStack)
// when REGISTRY_EXTERNAL_ENDPOINTS=1.
let moto: RunningMoto | undefined;
let client: SSMClient;

beforeAll(async () => {
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') {
    client = new SSMClient({});
  } else {
    moto = await startMoto(ensureMoto((line) => process.stdout.write(`${line}\n`)));
    client = new SSMClient({ endpoint: moto.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  }
}, 300_000); // the first run installs moto with pip (about half a minute)
afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});

/** A parameter as the stack creates it: a String holding read-write, with the modes' pattern. */
async function stackParameter(): Promise<string> {
  const name = `/registry-test/${randomUUID()}/mode`;
  await client.send(
    new PutParameterCommand({ Name: name, Type: 'String', Value: 'read-write', AllowedPattern: MODE_PATTERN }),
  );
  return name;
}

modeStoreContract('SSM parameter', async () => new SsmModeStore(client, await stackParameter()));

describe('SsmModeStore', () => {
  test('refuses to write a parameter that does not exist, naming it, and creates nothing', async () => {
    const name = `/registry-test/${randomUUID()}/typo`;
    const store = new SsmModeStore(client, name);
    await expect(store.write('read-only')).rejects.toThrow(`SSM parameter ${name} does not exist`);
    await expect(client.send(new GetParameterCommand({ Name: name }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
    await expect(store.read()).rejects.toThrow(`SSM parameter ${name} does not exist`);
  });

  test('a value that is no mode is an error naming the parameter and the value', async () => {
    const name = `/registry-test/${randomUUID()}/mode`;
    await client.send(new PutParameterCommand({ Name: name, Type: 'String', Value: 'readonly' }));
    await expect(new SsmModeStore(client, name).read()).rejects.toThrow(`SSM parameter ${name} holds "readonly"`);
  });

  test('an SSM that does not answer is UnavailableError after the read deadline, retries included', async () => {
    // A server that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', () => ok()));
    const port = (silent.address() as { port: number }).port;
    const stuck = new SSMClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      const started = Date.now();
      const err = await new SsmModeStore(stuck, 'mode', { readTimeoutMs: 300 }).read().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      stuck.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((ok) => silent.close(ok));
    }
  });
});

describe('FileModeStore', () => {
  test('a mode file edited by hand is read, whitespace and all; anything else is an error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mode-'));
    writeFileSync(join(dir, MODE_FILE), '  read-only \n');
    await expect(new FileModeStore(dir).read()).resolves.toBe('read-only');
    writeFileSync(join(dir, MODE_FILE), 'maintenance\n');
    await expect(new FileModeStore(dir).read()).rejects.toThrow(`${join(dir, MODE_FILE)} holds "maintenance"`);
  });
});
