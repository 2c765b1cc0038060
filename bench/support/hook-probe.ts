/**
 * Whether anything in this process turned on what makes every promise, callback and socket write cost
 * more: async hooks (which AsyncLocalStorage uses on Node 20 and 22), diagnostics-channel subscribers,
 * source-mapped stacks. Import this module before anything else that could turn them on: it counts the
 * hooks and storages made and the channels subscribed from then on, and `probeHooks` also asks Node
 * directly whether promises are tracked (inside a promise continuation the execution async id is 0
 * unless promise hooks are on).
 */
import * as asyncHooks from "node:async_hooks";
import * as channels from "node:diagnostics_channel";

export interface HookProbe {
  /** async_hooks.createHook calls since this module loaded. */
  asyncHooks: number;
  /** AsyncLocalStorage instances made since this module loaded. */
  storages: number;
  /** Diagnostics channels given a subscriber since this module loaded. */
  channels: string[];
  /** Promise continuations carry an async id: promise hooks are on. */
  promisesTracked: boolean;
  /** Error stacks are source-mapped (tsx turns this on). */
  sourceMaps: boolean;
}

const counts = { asyncHooks: 0, storages: 0, channels: new Set<string>() };

// Counted by wrapping the exports: a module that takes them later gets the wrapped ones.
const hooks = asyncHooks as { createHook: typeof asyncHooks.createHook };
const createHook = hooks.createHook;
hooks.createHook = (callbacks) => {
  counts.asyncHooks++;
  return createHook(callbacks);
};
const Storage = asyncHooks.AsyncLocalStorage;
(asyncHooks as { AsyncLocalStorage: typeof Storage }).AsyncLocalStorage = class<T> extends Storage<T> {
  constructor() {
    super();
    counts.storages++;
  }
};
const channelPrototype = Object.getPrototypeOf(channels.channel("hook-probe")) as {
  subscribe: (this: { name: string | symbol }, fn: channels.ChannelListener) => void;
};
const subscribe = channelPrototype.subscribe;
channelPrototype.subscribe = function (fn) {
  counts.channels.add(String(this.name));
  subscribe.call(this, fn);
};

async function promisesTracked(): Promise<boolean> {
  await Promise.resolve();
  return asyncHooks.executionAsyncId() !== 0;
}

/** What has been turned on so far. */
export async function probeHooks(): Promise<HookProbe> {
  return {
    asyncHooks: counts.asyncHooks,
    storages: counts.storages,
    channels: [...counts.channels].sort(),
    promisesTracked: await promisesTracked(),
    // Node 20.7 and later say it (the typings of this project's @types/node may not).
    sourceMaps: (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true,
  };
}
