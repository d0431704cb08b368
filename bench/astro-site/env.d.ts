// '@poem-data' is a Vite alias for the benchmark's data directory (bench/astro-site/astro.config.mjs).
declare module '@poem-data/*.json' {
  const value: unknown;
  export default value;
}
