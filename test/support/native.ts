// The native addon for the suites that need it. Without it they skip and say why on the console; with
// POEM_CACHE_REQUIRE_NATIVE=1 (CI sets it after `npm run build:native`) a missing addon fails them instead.
import { it } from 'vitest';
import { loadNative, nativeLoadError } from '../../native/index.ts';

export const native = loadNative();
export const requireNative = process.env.POEM_CACHE_REQUIRE_NATIVE === '1';

/**
 * True when the addon is missing, so `what` is to be skipped; says why on the console, or, when the addon is
 * required, registers a failing test in the caller's suite naming `what` and the reason.
 */
export function withoutNative(what: string): boolean {
  if (native) return false;
  const why = `native addon not available: ${nativeLoadError}`;
  if (requireNative) {
    it(`${what} (POEM_CACHE_REQUIRE_NATIVE=1)`, () => {
      throw new Error(`${what} cannot run: ${why}`);
    });
  } else {
    console.log(`${what}: skipped, ${why}`);
  }
  return true;
}
