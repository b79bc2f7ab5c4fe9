import { request } from 'node:http';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

/**
 * A client sends a body too large for a function as stock clients do: all of it, then it reads the
 * answer. It must read the 413 and its message, not a broken pipe, and the request must be logged.
 */
describe('a body too large for a function', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('is read to its end and answered 413 SIZE_INVALID with the limit, and logged', async () => {
    const start = await fetch(`${registry.url}/v2/refused/big/blobs/uploads/`, { method: 'POST' });
    const path = start.headers.get('location') ?? '';
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${registry.url}${path}`,
        { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // 24 MiB, streamed without a length, as docker and podman send a layer.
      let sent = 0;
      const write = () => {
        while (sent < 24) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    expect(answer.status).toBe(413);
    const error = (JSON.parse(answer.body) as { errors: { code: string; message: string }[] }).errors[0];
    expect(error?.code).toBe('SIZE_INVALID');
    expect(error?.message).toMatch(/6291456-byte Lambda payload limit/);
    expect(registry.requests).toContainEqual(expect.objectContaining({ method: 'PATCH', path, status: 413 }));
  });
});
