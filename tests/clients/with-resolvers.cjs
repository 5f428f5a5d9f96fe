// js-ipfs's and Helia's dependencies call Promise.withResolvers, which Node.js has from
// version 22; on Node.js 20 this defines it (NODE_OPTIONS=--require <this>).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
