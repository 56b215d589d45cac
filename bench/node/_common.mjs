// What the bench's Node programs share: the npm packages, located where the
// interop tests install them (`npm ci --prefix tests/interop/js`), so the bench
// needs no install of its own; the line protocol to the Python bench on stdio.

import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const INTEROP = new URL('../../tests/interop/js/', import.meta.url)
const INSTALL_HINT = 'run `npm ci --prefix tests/interop/js` first'

const require = createRequire(new URL('package.json', INTEROP))

/** The `ws` package (CommonJS, so `require` finds it under tests/interop/js). */
export const ws = (() => {
  try {
    return require('ws')
  } catch (err) {
    fail(`cannot load the ws package: ${err.message}; ${INSTALL_HINT}`)
  }
})()

/**
 * The official itty-sockets client's `connect`, with `ws`'s WebSocket class as the
 * global `WebSocket` it expects (Node 20 has none). Its CommonJS entry is broken,
 * so its ES module is imported by path. Only the clients load it.
 */
export async function ittyConnect() {
  globalThis.WebSocket = class extends ws.WebSocket {
    constructor(...args) {
      super(...args)
      // A browser ignores an unhandled `error` event; ws's EventEmitter would throw.
      this.on('error', (err) => process.stderr.write(`websocket error: ${err.message}\n`))
    }
  }
  try {
    return (await import(new URL('node_modules/itty-sockets/connect.mjs', INTEROP))).connect
  } catch (err) {
    fail(`cannot load the itty-sockets package: ${err.message}; ${INSTALL_HINT}`)
  }
}

/** One JSON object on its own line to the bench (stdout to a pipe is synchronous). */
export const emit = (record) => process.stdout.write(JSON.stringify(record) + '\n')

/** Report a failure on stderr (the bench shows its tail) and exit. */
export function fail(message) {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

/**
 * Exit on SIGTERM, SIGINT or EOF on stdin. The bench holds stdin open, so EOF means
 * it is done with us or died. Each line on stdin goes to `onLine`; by default a
 * `gc` line runs a full garbage collection (node --expose-gc) and is answered
 * with a `GC` line, as the bench's Python children do.
 */
export function serveUntilStopped(onLine = collectGarbage) {
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
  createInterface({ input: process.stdin }).on('line', onLine).on('close', () => process.exit(0))
}

/** The `gc` command of `serveUntilStopped`. */
export function collectGarbage(line) {
  if (line.trim() !== 'gc') return fail(`unknown command ${JSON.stringify(line)}`)
  if (!globalThis.gc) return fail('gc is not exposed: run node with --expose-gc')
  globalThis.gc()
  process.stdout.write('GC\n')
}

/** The bench's limit for any wait: at least 2,000 messages a second (as its own). */
export const timeoutFor = (messages) => (20 + messages / 2000) * 1000
