// share: 'shm': the shared-memory segment of the build in progress. Published at astro:build:start, before
// any render thread starts (threads inherit the name in their copy of process.env, and getCache() opens the
// segment), released at astro:build:done (cache/shm.ts also releases it on exit and on SIGINT/SIGTERM).
import type { AstroIntegrationLogger } from 'astro';
import { publishToShm, releaseShm, SHM_ENV, sweepStaleShm } from '../cache/shm.ts';

export class BuildSegment {
  private name: string | undefined;

  /** Publishes the cache file (share: 'shm'), or makes sure render threads inherit no name (share: 'file'). */
  start(share: 'file' | 'shm', cacheFile: string, logger: AstroIntegrationLogger): void {
    // A failed earlier build of this process (no build:done) left its segment: release it now.
    this.release();
    if (share === 'file') {
      delete process.env[SHM_ENV];
      return;
    }
    const swept = sweepStaleShm();
    if (swept.length) {
      const names = swept.join(', ');
      logger.info(`removed ${swept.length} shared-memory segment(s) left by build(s) that were killed: ${names}`);
    }
    this.name = publishToShm(cacheFile).name;
    process.env[SHM_ENV] = this.name;
    const hygiene = 'mode 0600; unlinked at build end, on exit and on SIGINT/SIGTERM';
    logger.debug(`cache published as shared memory /dev/shm/${this.name} (${hygiene})`);
  }

  release(): void {
    if (this.name === undefined) return;
    releaseShm(this.name);
    this.name = undefined;
    delete process.env[SHM_ENV];
  }
}
