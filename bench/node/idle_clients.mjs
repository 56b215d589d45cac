// The Node anchor for client_bench.py's idle-memory scenario: many idle
// itty-sockets clients in one process, each in a channel of its own with one
// listener, `.on('chat', fn)`, as a program waiting for messages would have.
//
//   node --expose-gc bench/node/idle_clients.mjs <relay url ws://…/c/> <channel prefix>
//
// Per `open N` line on stdin it opens N more clients (at most CONCURRENCY
// handshakes at a time), waits until each has its own join, collects garbage
// and answers `{"open": <clients so far>}`; the bench reads the process's RSS
// around it. EOF on stdin (or SIGTERM, SIGINT) ends it.

import { emit, fail, ittyConnect, serveUntilStopped, timeoutFor } from './_common.mjs'

// As relay_bench.py's CONNECT_CONCURRENCY: below the relay's listen backlog.
const CONCURRENCY = 50

const [url, prefix] = process.argv.slice(2)
if (!url || !prefix) fail('usage: idle_clients.mjs <relay url> <channel prefix>')

if (!globalThis.gc) fail('idle_clients: run node with --expose-gc')
const connect = await ittyConnect()
const clients = []
const onChat = () => {}

function openOne(index) {
  return new Promise((resolve, reject) => {
    const client = connect(`${url}${prefix}-${index}`)
    const onJoin = (event) => {
      if (!event.self) return
      client.remove('join', onJoin)
      client.remove('close', onClose)
      resolve()
    }
    const onClose = () => reject(new Error(`client ${index} closed before its own join`))
    client.on('chat', onChat)
    client.on('join', onJoin)
    client.on('close', onClose)
    clients.push(client)
  })
}

async function open(count) {
  const end = clients.length + count
  const next = () => (clients.length < end ? openOne(clients.length).then(next) : null)
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('not every client joined in time')), timeoutFor(count))
  })
  try {
    await Promise.race([Promise.all(Array.from({ length: CONCURRENCY }, next)), timeout])
  } finally {
    clearTimeout(timer)
  }
  globalThis.gc()
  emit({ open: clients.length })
}

let queue = Promise.resolve()
serveUntilStopped((line) => {
  const words = line.trim().split(/\s+/)
  if (words[0] !== 'open') return fail(`idle_clients: unknown command ${JSON.stringify(line)}`)
  queue = queue
    .then(() => open(Number(words[1])))
    .catch((err) => emit({ error: `itty: ${err.message}` }))
})
emit({ ready: true })
