'use strict';
// The seed demo's assignment rule, written again from its description and
// independent of the module: sha256("<device_id>:<experiment>") read as a
// big-endian integer, modulo the sum of the weights, then the groups in
// byte order of their names (Python's sorted()) until the running sum of
// weights passes the remainder.

const crypto = require('node:crypto');

function hashGroup(deviceId, experiment, groups) {
    const names = Object.keys(groups).sort((a, b) => {
        const x = Buffer.from(a), y = Buffer.from(b);
        return Buffer.compare(x, y);
    });
    let total = 0n;
    for (const g of names) total += BigInt(groups[g]);
    if (total === 0n) return null;

    const digest = crypto.createHash('sha256')
        .update(`${deviceId}:${experiment}`, 'utf8').digest('hex');
    const rem = BigInt('0x' + digest) % total;

    let c = 0n;
    for (const g of names) {
        c += BigInt(groups[g]);
        if (rem < c) return g;
    }
    return null;
}

// what a device gets now from an experiment of GET /api/experiments
function expectedGroup(deviceId, name, exp) {
    if (exp.state === 'inactive') return exp.fallback;
    if (exp.state === 'rollout') return exp.rollout_group;
    return hashGroup(deviceId, name, exp.groups);
}

// the share of each group that the state and weights promise
function expectedShares(exp) {
    const shares = {};
    const names = Object.keys(exp.groups);
    const total = names.reduce((s, g) => s + exp.groups[g], 0);
    for (const g of names) {
        if (exp.state === 'inactive') shares[g] = g === exp.fallback ? 1 : 0;
        else if (exp.state === 'rollout') {
            shares[g] = g === exp.rollout_group ? 1 : 0;
        } else shares[g] = total ? exp.groups[g] / total : 0;
    }
    return shares;
}

module.exports = { hashGroup, expectedGroup, expectedShares };
