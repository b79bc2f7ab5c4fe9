import { createServer } from 'node:http';
import { servicesFromEnv } from '../handlers/compose';
import { logger } from '../http/log';
import { ENV } from '../config/env';
import { maxStreamsFor } from '../config/uploader';
import { UploadAdmission } from './admission';
import { uploaderListener } from './server';

/**
 * Entry point of the uploader container: the same services the functions compose from the same
 * environment, served on PORT (default 8080), with no time limit on request bodies.
 */
const maxStreams = Number(process.env[ENV.uploaderMaxStreams] ?? maxStreamsFor(2048));
if (!Number.isInteger(maxStreams) || maxStreams < 1) {
  throw new Error(
    `${ENV.uploaderMaxStreams} must be a whole number of at least 1, got "${process.env[ENV.uploaderMaxStreams]}"`,
  );
}
const server = createServer(uploaderListener(servicesFromEnv(), undefined, new UploadAdmission({ maxStreams })));
server.requestTimeout = 0;
// Longer than the load balancer's 300 s idle timeout, so it never reuses a connection Node closed.
server.keepAliveTimeout = 310_000;
server.headersTimeout = 320_000;
server.listen(Number(process.env.PORT ?? 8080), () => {
  logger.info('uploader listening', { address: server.address() });
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
