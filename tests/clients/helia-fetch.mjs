// Helia's verified-fetch reads a CID through depot as its only trustless
// gateway, block by block (`?format=raw`), checking each block against its
// CID, and writes the file it assembles.
//
//   node helia-fetch.mjs BASE_URL TOKEN CID OUT_FILE
//
// depot's gateway is private, so every request to it carries the token
// (Helia has no option for headers; its requests go through global fetch).
// Prints {"status", "bytes", "blocks"}: the answer's status, the bytes
// written, and how many block requests reached depot.
import { writeFileSync } from 'node:fs'
import { withHTTP } from '@helia/http'
import { createVerifiedFetch } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'

const [base, token, cid, out] = process.argv.slice(2)

const fetchOf = globalThis.fetch
let blocks = 0
globalThis.fetch = (input, init = {}) => {
  const url = typeof input === 'string' ? input : (input.url ?? String(input))
  if (url.startsWith(base)) {
    if (url.includes('format=raw')) blocks++
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined))
    headers.set('authorization', `Bearer ${token}`)
    init = { ...init, headers }
  }
  return fetchOf(input, init)
}

const helia = await withHTTP(createHeliaLight({}), {
  delegatedRouters: [],
  recursiveGateways: [base],
  allowLocal: true,
  allowInsecure: true
}).start()
// Helia asks its gateway router only once the other routers have answered;
// with none it would wait forever. This one answers at once, with nobody.
helia.addRouter({ name: 'none', async * findProviders () {} })
const verifiedFetch = await createVerifiedFetch(helia)
const response = await verifiedFetch(`ipfs://${cid}`, { signal: AbortSignal.timeout(60000) })
const bytes = new Uint8Array(await response.arrayBuffer())
writeFileSync(out, bytes)
console.log(JSON.stringify({ status: response.status, bytes: bytes.length, blocks }))
await verifiedFetch.stop()
process.exit(0)
