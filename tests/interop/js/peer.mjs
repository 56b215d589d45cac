// A scriptable peer around the official itty-sockets client, driven by JSON lines.
//
// stdin, one command per line (or a JSON array of commands, run in one tick, so
// e.g. [connect, push] pushes while the socket is still CONNECTING):
//   {"op":"connect","url":"ws://…/c/room","options":{…},"types":["chat"]}
//   {"op":"send","message":…,"to":"uid"?}   {"op":"push","message":…,"to":"uid"?}
//   {"op":"open"}   {"op":"close"}   {"op":"exit"}
// stdout, one JSON object per line:
//   {"on":"ready"} once started; {"on":<listener key>,"event":…} for every itty
//   listener call (open/close have no event); {"on":"ws-error","message":…} for a
//   transport error; {"on":"peer-error","message":…} when anything here fails.
// The peer exits when stdin ends, so it never outlives the test that started it.

import { createInterface } from 'node:readline'

const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')
const fail = (err) => out({ on: 'peer-error', message: String(err?.stack ?? err) })
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

let connect
try {
  const ws = await import('ws')
  ;({ connect } = await import('itty-sockets'))
  // Node 20 has no global WebSocket. A browser ignores an unhandled `error` event
  // (a refused handshake then shows only as `close`), but ws's EventEmitter would
  // throw, so listen for it here and report it.
  globalThis.WebSocket = class extends ws.WebSocket {
    constructor(...args) {
      super(...args)
      this.on('error', (err) => out({ on: 'ws-error', message: String(err?.message ?? err) }))
    }
  }
} catch (err) {
  fail(err)
  process.exit(1)
}

const KEYS = ['open', 'close', 'join', 'leave', 'error', 'message']
let client = null

const ops = {
  connect({ url, options = {}, types = [] }) {
    if (client) throw new Error('already connected: one itty client per peer')
    client = connect(url, options)
    // Registering a listener opens the socket (itty's on() calls open()).
    for (const key of [...KEYS, ...types]) {
      client.on(key, (event) => out(event === undefined ? { on: key } : { on: key, event }))
    }
  },
  send: ({ message, to }) => client.send(message, to),
  push: ({ message, to }) => client.push(message, to),
  open: () => client.open(),
  close: () => client.close(),
  exit: () => process.exit(0),
}

const run = (command) => {
  try {
    const op = ops[command?.op]
    if (!op) throw new Error(`unknown op in ${JSON.stringify(command)}`)
    if (command.op !== 'connect' && command.op !== 'exit' && !client) throw new Error('not connected')
    op(command)
  } catch (err) {
    fail(err)
  }
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (!line.trim()) return
    let parsed
    try {
      parsed = JSON.parse(line)
    } catch (err) {
      return fail(err)
    }
    for (const command of Array.isArray(parsed) ? parsed : [parsed]) run(command)
  })
  .on('close', () => process.exit(0))

out({ on: 'ready' })
