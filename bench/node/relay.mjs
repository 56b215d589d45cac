// The Node anchor relay: about the smallest relay that can be written with the
// `ws` package, speaking the subset of the itty protocol the benches use, like
// relay_bench.py's BaselineRelay: a Map of connections per channel; the own join
// first, then others' join and leave with `total`; the envelope
// `{date, uid, message}` encoded once per message; `?echo=true` for the sender's
// copy. No DMs, keys or limits. Frames up to 1 MiB, no compression.
//
//   node --expose-gc bench/node/relay.mjs
//
// It listens on 127.0.0.1 (a free port), prints `URL ws://127.0.0.1:<port>/c/`
// and serves until SIGTERM, SIGINT or EOF on stdin; a `gc` line on stdin runs a
// full garbage collection (with node --expose-gc) and is answered `GC`.

import { randomBytes } from 'node:crypto'
import { serveUntilStopped, ws } from './_common.mjs'

const HOST = '127.0.0.1'
const MAX_SIZE = 1 << 20
const channels = new Map() // channel -> Map(socket -> uid)

const encode = (frame) => Buffer.from(JSON.stringify(frame))
// Buffers go out as binary frames unless told otherwise; every itty frame is text.
const TEXT = { binary: false }
const broadcast = (targets, data) => {
  for (const target of targets) target.send(data, TEXT)
}

function channelOf(path) {
  const raw = path.replace(/^\/c\//, '')
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

function join(socket, request) {
  const [path, query = ''] = request.url.split(/\?(.*)/s)
  const channel = channelOf(path)
  const echo = !['false', '0'].includes(new URLSearchParams(query).get('echo') ?? 'false')
  const uid = randomBytes(3).toString('hex')
  let members = channels.get(channel)
  if (!members) channels.set(channel, (members = new Map()))
  const others = [...members.keys()]
  members.set(socket, uid)
  const date = Date.now()
  socket.send(encode({ type: 'join', self: true, uid, total: members.size, date }), TEXT)
  if (others.length) broadcast(others, encode({ type: 'join', total: members.size, date }))

  socket.on('message', (data, isBinary) => {
    if (isBinary) return
    let message
    try {
      message = JSON.parse(data)
    } catch {
      return
    }
    const envelope = encode({ date: Date.now(), uid, message })
    for (const member of members.keys()) {
      if (echo || member !== socket) member.send(envelope, TEXT)
    }
  })
  socket.on('error', () => {}) // a broken peer only closes its own connection
  socket.on('close', () => {
    members.delete(socket)
    if (members.size) {
      broadcast(members.keys(), encode({ type: 'leave', total: members.size, date: Date.now() }))
    } else if (channels.get(channel) === members) {
      channels.delete(channel)
    }
  })
}

const server = new ws.WebSocketServer({
  host: HOST,
  port: 0,
  maxPayload: MAX_SIZE,
  perMessageDeflate: false,
  clientTracking: false,
})
server.on('connection', join)
server.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`)
  process.exit(1)
})
server.on('listening', () => process.stdout.write(`URL ws://${HOST}:${server.address().port}/c/\n`))
serveUntilStopped()
