// The Node anchor receiver for client_bench.py's throughput scenario: the official
// itty-sockets client with one listener, `.on('chat', (m) => sink(m.n))`, the
// counterpart of rx_itty's `on("chat").pipe(ops.map(lambda m: m["n"]))`.
//
//   node bench/node/receiver.mjs <relay url ws://…/c/> <channel>
//
// The same line protocol as client_bench.py's Python receivers: `{"ready":true}`
// once the own join arrived; then per `go N` line on stdin it drains N chat
// messages and answers `{"count","last","seconds","cpu","waits"}`, timed from
// the first value to the N-th. Between rounds the event loop is blocked on a
// synchronous read of stdin, so frames pile up in the socket buffers and every
// receiver drains the same kind of backlog. Any other line, or EOF, ends it.

import { readFileSync, readSync } from 'node:fs'
import { emit, fail, ittyConnect, timeoutFor } from './_common.mjs'

const STATUS = '/proc/thread-self/status'
const [url, channel] = process.argv.slice(2)
if (!url || !channel) fail('usage: receiver.mjs <relay url> <channel>')

// Voluntary context switches of this (the main) thread: each is a time it blocked,
// e.g. for want of data. Node's helper threads (GC, ...) are left out.
const waits = () => Number(/voluntary_ctxt_switches:\s*(\d+)/.exec(readFileSync(STATUS, 'utf8'))[1])

let count = 0
let target = 0
let first = 0
let firstCpu = null
let firstWaits = 0
let timer = null

function onValue(value) {
  count += 1
  if (count === 1) {
    first = performance.now()
    firstCpu = process.cpuUsage()
    firstWaits = waits()
  }
  if (count === target) {
    const seconds = (performance.now() - first) / 1000
    const cpu = process.cpuUsage(firstCpu)
    const switches = waits() - firstWaits
    clearTimeout(timer)
    emit({ count, last: value, seconds, cpu: (cpu.user + cpu.system) / 1e6, waits: switches })
    setImmediate(nextCommand) // block again, outside the client's message handler
  }
}

// stdin is a pipe the bench writes to; readSync blocks the whole event loop.
const chunk = Buffer.alloc(256)
let pending = ''
function readLine() {
  while (!pending.includes('\n')) {
    const size = readSync(0, chunk)
    if (size === 0) return null
    pending += chunk.toString('utf8', 0, size)
  }
  const end = pending.indexOf('\n')
  const line = pending.slice(0, end)
  pending = pending.slice(end + 1)
  return line
}

function nextCommand() {
  const words = (readLine() ?? '').trim().split(/\s+/)
  if (words[0] !== 'go') process.exit(0)
  count = 0
  target = Number(words[1])
  timer = setTimeout(() => {
    emit({ error: `itty: only ${count} of ${target} messages arrived` })
    setImmediate(nextCommand)
  }, timeoutFor(target))
}

const connect = await ittyConnect()
const socket = connect(url + channel)
socket.on('chat', (message) => onValue(message.n))
const onJoin = (event) => {
  if (!event.self) return
  socket.remove('join', onJoin)
  emit({ ready: true })
  setImmediate(nextCommand)
}
socket.on('join', onJoin)
socket.on('close', () => fail('itty: the connection closed'))
