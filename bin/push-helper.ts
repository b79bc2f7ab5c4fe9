#!/usr/bin/env -S npx tsx
import { createPushHelper, DEFAULT_CHUNK_SIZE } from '../lambda/push-helper/relay';

/**
 * `npm run push-helper -- https://registry.example.com [port]`: a registry on localhost:<port>
 * (default 5000) that relays to the deployed one, cutting whole-layer uploads into chunks its
 * functions accept. Then `docker push localhost:5000/team/app:1.0` works for any layer size.
 */
const [upstream, port = '5000'] = process.argv.slice(2);
if (!upstream) {
  console.error('usage: npm run push-helper -- <registry URL> [port]');
  process.exit(2);
}
const server = createPushHelper({
  upstream,
  chunkSize: Number(process.env.REGISTRY_PUSH_CHUNK_SIZE ?? DEFAULT_CHUNK_SIZE),
  log: (line) => console.log(line),
});
server.requestTimeout = 0;
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`push helper on http://localhost:${port}, relaying to ${upstream}`);
});
