// <Reuse of={Component} …props />: renders Component with props. In an `astro build` with fragments on, the
// HTML is rendered once per build for each key — the component and its props, which must be JSON-like
// values — and every later page reuses it (integration/fragments.ts). Anywhere else (dev, on-demand pages,
// `fragments: false`) it renders the component in place, so output never depends on whether it was reused.
import { fragmentHostFor } from './fragment-host.ts';
import { CAPTURING, CaptureDestination, type ComponentLike, type Part } from './fragments.ts';

type Result = { request?: Request; componentMetadata?: Map<string, { propagation?: string }> };
type RenderInstance = { render(destination: { write(chunk: unknown): void }): unknown };

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object of class ${(v as object).constructor?.name ?? 'null-prototype'}`;
  return typeof v;
};

const heads = new Map<string, string>();
/** `{"name":` for a prop name, as reuseKey's general form writes it. */
function keyHead(name: string): string {
  let h = heads.get(name);
  if (h === undefined) heads.set(name, (h = `{${JSON.stringify(name)}:`));
  return h;
}

/**
 * The key of a fragment: its props (but `skip`) as canonical JSON, object keys sorted. Only JSON-like values
 * (strings, numbers, booleans, null, undefined, arrays and plain objects of them) are accepted, so two uses
 * with the same key are two uses with the same inputs. Runs on every use: no allocation beyond the key.
 */
export function reuseKey(props: Record<string, unknown>, component: string, skip?: string): string {
  // The common use, one number prop (row={r}): its canonical form without the general walk.
  let only: string | undefined;
  let n = 0;
  for (const k in props) {
    if (k === skip) continue;
    only = k;
    if (++n > 1) break;
  }
  if (n === 1) {
    const v = props[only!];
    const head = typeof v === 'number' && !Object.is(v, -0) ? keyHead(only!) : undefined;
    if (head !== undefined && Object.hasOwn(props, only!)) return `${head}${v},}`;
  }
  const trail: (string | number)[] = []; // where in the props we are, for the error message only
  const value = (v: unknown): string => {
    switch (typeof v) {
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'string':
        return JSON.stringify(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
        return 'u';
      case 'object': {
        if (v === null) return 'null';
        if (Array.isArray(v)) {
          let out = '[';
          for (let i = 0; i < v.length; i++) {
            trail.push(i);
            out += (i ? ',' : '') + value(v[i]);
            trail.pop();
          }
          return `${out}]`;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === null) return object(v as Record<string, unknown>);
        break;
      }
    }
    const path = trail.map((t, i) => (typeof t === 'number' ? `[${t}]` : i ? `.${t}` : t)).join('');
    throw new TypeError(
      `<Reuse of={${component}}>: prop "${path}" is ${describe(v)}; the props of a reused component are its key ` +
        'and must be JSON-like (strings, numbers, booleans, null, arrays and plain objects). Pass a row number or ' +
        'an id and let the component read what it needs itself (e.g. getCache() from virtual:poem-cache).',
    );
  };
  const object = (o: Record<string, unknown>, omit?: string): string => {
    const keys = Object.keys(o);
    if (keys.length > 1) keys.sort();
    let out = '{';
    for (const k of keys) {
      if (k === omit) continue;
      trail.push(k);
      out += `${JSON.stringify(k)}:${value(o[k])},`;
      trail.pop();
    }
    return `${out}}`;
  };
  return object(props, skip);
}

const nameOf = (c: ComponentLike): string =>
  c.moduleId
    ?.split('/')
    .pop()
    ?.replace(/\.astro$/, '') ||
  c.name ||
  'Component';

interface ComponentInfo {
  name: string;
  /** Why it may not be reused, known before rendering it (its metadata), or undefined. */
  unfit?: string;
}
const infos = new WeakMap<ComponentLike, ComponentInfo>();
/** What Reuse needs to know of a component, once per component (its metadata does not change in a build). */
function infoOf(result: Result, c: ComponentLike): ComponentInfo {
  let info = infos.get(c);
  if (!info) {
    const hint = c.propagation ?? (c.moduleId ? result.componentMetadata?.get(c.moduleId)?.propagation : undefined);
    const propagates = hint === 'self' || hint === 'in-tree';
    const unfit = propagates ? 'it propagates head content (each page collects its own)' : undefined;
    infos.set(c, (info = { name: nameOf(c), unfit }));
  }
  return info;
}

const HEAD_AND_CONTENT = Symbol.for('astro.headAndContent');
/** Astro's marker of a prop that makes a component a server island (server:defer). */
const SERVER_DIRECTIVE = 'server:component-directive';

/** What Astro renders of a component factory's return value (AstroComponentInstance.renderImpl). */
function contentOf(v: unknown): unknown {
  if (v instanceof Promise) return v.then(contentOf);
  const headAndContent = v !== null && typeof v === 'object' && (v as Record<symbol, unknown>)[HEAD_AND_CONTENT];
  return headAndContent ? (v as { content: unknown }).content : v;
}

type Runtime = { renderComponent(result: unknown, name: string, c: unknown, props: unknown, slots: unknown): unknown };
let runtime: Promise<Runtime> | undefined;
/**
 * Astro's own renderComponent, for what Reuse does not render itself (framework components, server islands,
 * components that propagate head content). Loaded on first need: the prerender bundle has its own copy of
 * Astro's runtime, and a second one costs each thread ~7 MB of heap and ~170 ms to load.
 */
const astroRuntime = (): Promise<Runtime> => (runtime ??= import('astro/runtime/server/index.js') as Promise<Runtime>);

/**
 * Renders `component` with `props` into `destination`. An Astro component (not a server island, not
 * propagating head content) is called directly, as AstroComponentInstance does; anything else through
 * Astro's renderComponent.
 */
async function renderInto(
  destination: CaptureDestination,
  result: unknown,
  name: string,
  component: ComponentLike,
  props: Record<string, unknown>,
  direct: boolean,
): Promise<void> {
  const out = direct
    ? await contentOf(component(result, props, {}))
    : await (await astroRuntime()).renderComponent(result, name, component, props, {});
  if (out !== null && typeof out === 'object' && typeof (out as RenderInstance).render === 'function') {
    await (out as RenderInstance).render(destination);
  } else {
    destination.write({ [Symbol.for('astro:render')]: true, type: 'astro-poem-cache:not-a-template' });
  }
}

/** Renders the component into parts with a derived result: what it writes is kept, not written to the page. */
async function capture(
  result: Result,
  name: string,
  component: ComponentLike,
  props: Record<string, unknown>,
  direct: boolean,
): Promise<Part[]> {
  const inner = Object.create(result) as Result & { [CAPTURING]?: boolean };
  inner[CAPTURING] = true;
  const destination = new CaptureDestination();
  await renderInto(destination, inner, name, component, props, direct);
  return destination.finish();
}

/**
 * The type pages see: `of` is a component, the other props are that component's props (all JSON-like).
 * Astro types an imported .astro component as `(props: Props) => any`.
 */
export type ReuseComponent = <P extends Record<string, unknown>>(props: { of: (props: P) => unknown } & P) => unknown;

const factory = (result: Result, props: Record<string, unknown>, slots: Record<string, unknown>): unknown => {
  const component = props.of as ComponentLike | undefined;
  if (typeof component !== 'function') {
    throw new TypeError(
      '<Reuse of={…}>: "of" must be a component (e.g. of={PoemEntry} with import PoemEntry from ' +
        `'./PoemEntry.astro'), got ${describe(component)}`,
    );
  }
  const { name, unfit } = infoOf(result, component);
  if (slots && Object.keys(slots).length > 0) {
    throw new Error(`<Reuse of={${name}}>: takes no children — slot content belongs to the page; pass props instead`);
  }
  const key = reuseKey(props, name, 'of');
  const direct = component.isAstroComponentFactory === true && !unfit && props[SERVER_DIRECTIVE] === undefined;
  const rest = (): Record<string, unknown> => {
    const { of: _, ...r } = props;
    return r;
  };
  // Exactly what <Component {...props} /> renders: Astro's renderComponent normalized the props already (they
  // were Reuse's), so an Astro component is called as AstroComponentInstance would.
  const inline = () =>
    direct
      ? contentOf(component(result, rest(), {}))
      : astroRuntime().then((rt) => rt.renderComponent(result, name, component, rest(), {}));
  const host = fragmentHostFor(result);
  if (!host) return inline();
  return host.use(component, key, inline, () => capture(result, name, component, rest(), direct), unfit);
};

/** Astro's createComponent (astro/runtime/server), without loading Astro's runtime into the thread. */
function createComponent(f: typeof factory, moduleId: string): ComponentLike {
  const fn = ((result: unknown, props: Record<string, unknown>, slots: unknown) =>
    f(result as Result, props, slots as Record<string, unknown>)) as ComponentLike;
  Object.defineProperty(fn, 'name', { value: 'Reuse', writable: false });
  fn.isAstroComponentFactory = true;
  fn.moduleId = moduleId;
  fn.propagation = undefined;
  return fn;
}

export const Reuse = createComponent(factory, 'astro-poem-cache/Reuse') as unknown as ReuseComponent;
