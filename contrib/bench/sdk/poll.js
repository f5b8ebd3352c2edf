#!/usr/bin/env node
// What a team would otherwise write: a polling script on the official cloud
// SDKs that makes the same observation nodeherd makes of every cluster (node
// list, paged, and node-pool list), on the same interval, spread the same way.
// contrib/bench/run starts it against fakecloud and measures its RSS and CPU
// from /proc, side by side with nodeherd.
//
//   node poll.js --endpoint http://127.0.0.1:PORT --fleet FLEET.json \
//                --interval 30 --duration 90
//
// FLEET.json: {"project": "...", "keys": {"ack": [ak, sk], "cce": [...], "ma": [...]},
//              "clusters": [{"cloud": "ack"|"cce"|"ma", "id": "..."}]}
// Prints "ready" once all clients are built, and on exit one JSON line:
// {"polls": N, "requests": N, "errors": N, "first_error": "..."}.
// ModelArts has no Node.js SDK on npm; its ListNodePools goes through the
// Huawei core SDK's HcClient (the same signer and HTTP stack the CCE SDK uses).
'use strict';

const fs = require('fs');
const CS = require('@alicloud/cs20151215');
const OpenApi = require('@alicloud/openapi-client');
const core = require('@huaweicloud/huaweicloud-sdk-core');
const cce = require('@huaweicloud/huaweicloud-sdk-cce');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const endpoint = arg('endpoint');
const fleet = JSON.parse(fs.readFileSync(arg('fleet'), 'utf8'));
const intervalMs = Number(arg('interval', '30')) * 1000;
const durationMs = Number(arg('duration', '90')) * 1000;
const hostPort = endpoint.replace(/^https?:\/\//, '');

const stats = { polls: 0, requests: 0, errors: 0, first_error: null };

function fail(e) {
  stats.errors++;
  if (stats.first_error === null) {
    stats.first_error = String((e && (e.message || e.errorMsg)) || e).slice(0, 300);
  }
}

const AckClient = CS.default;
const ack = new AckClient(new OpenApi.Config({
  accessKeyId: fleet.keys.ack[0],
  accessKeySecret: fleet.keys.ack[1],
  endpoint: hostPort,
  protocol: 'http',
  regionId: 'cn-hangzhou',
}));

function huaweiClient(key) {
  const cred = new core.BasicCredentials()
    .withAk(fleet.keys[key][0])
    .withSk(fleet.keys[key][1])
    .withProjectId(fleet.project);
  return cce.CceClient.newBuilder().withCredential(cred).withEndpoint(endpoint).build();
}
const cceClient = huaweiClient('cce');
const maClient = huaweiClient('ma');

async function observeAck(id) {
  for (let page = 1; page <= 100; page++) {
    stats.requests++;
    const r = await ack.describeClusterNodes(id, new CS.DescribeClusterNodesRequest({
      pageSize: '100', pageNumber: String(page),
    }));
    const p = (r.body && r.body.page) || {};
    if (!p.totalCount || page * 100 >= p.totalCount) break;
  }
  stats.requests++;
  await ack.describeClusterNodePools(id, new CS.DescribeClusterNodePoolsRequest({}));
}

async function observeCce(id) {
  stats.requests++;
  await cceClient.listNodes(new cce.ListNodesRequest().withClusterId(id));
  stats.requests++;
  await cceClient.listNodePools(new cce.ListNodePoolsRequest().withClusterId(id)
    .withShowDefaultNodePool('true'));
}

async function observeMa(pool) {
  stats.requests++;
  const options = {
    method: 'GET',
    url: '/v2/{project_id}/pools/{pool_name}/nodepools',
    contentType: 'application/json',
    queryParams: {},
    pathParams: { pool_name: pool },
    headers: {},
    data: {},
    responseHeaders: [''],
  };
  await maClient.hcClient.sendRequest(options);
}

async function observe(c) {
  try {
    if (c.cloud === 'ack') await observeAck(c.id);
    else if (c.cloud === 'cce') await observeCce(c.id);
    else await observeMa(c.id);
    stats.polls++;
  } catch (e) {
    fail(e);
  }
}

const timers = [];
for (const c of fleet.clusters) {
  // First polls spread over one second (as nodeherd does), then every
  // interval -5%..+5%.
  const again = () => {
    observe(c).finally(() => {
      timers.push(setTimeout(again, intervalMs * (0.95 + Math.random() * 0.1)));
    });
  };
  timers.push(setTimeout(again, Math.random() * Math.min(1000, intervalMs)));
}
process.stdout.write('ready\n');
setTimeout(() => {
  process.stdout.write(JSON.stringify(stats) + '\n');
  process.exit(0);
}, durationMs);
