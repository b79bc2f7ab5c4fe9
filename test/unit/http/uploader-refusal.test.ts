import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uploaderListener } from '../../../lambda/uploader/server';
import { memoryRegistry } from '../../support/memory-registry';

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

/**
 * A refusal the uploader answers before reading the body must reach the client through the load
 * balancer, which answers 502 itself when its target resets the connection under a request it is
 * still sending (as local mode's stand-in does).
 */
describe('the uploader refusing a body it did not read', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  test('a 5 MiB body refused at once still gets its 4xx through a load balancer, never a 502', async () => {
    const { services } = memoryRegistry();
    const uploader = createServer(uploaderListener(services));
    const target = await listen(uploader);
    const balancer = createServer((req, res) => {
      const out = request(
        { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
          answer.pipe(res);
        },
      );
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(out);
    });
    const port = await listen(balancer);
    servers.push(uploader, balancer);
    const body = Buffer.alloc(5 * 1024 * 1024, 0x61);
    const send = (method: string, path: string, connection: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method, path, headers: { 'Content-Length': body.length, Connection: connection } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    // A client that asks for the connection to close after the answer, as many do, included.
    for (const connection of ['keep-alive', 'close', 'keep-alive', 'close']) {
      expect(await send('OPTIONS', '/v2/a/blobs/uploads/', connection)).toBe(405);
      expect(await send('PATCH', '/v2/a/blobs/uploads/5f0c7a1e-0000-4000-8000-000000000000', connection)).toBe(404);
    }
  });
});
