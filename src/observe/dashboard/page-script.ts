/**
 * The page's script (served as /app.js). Plain browser JavaScript kept as
 * a string so the build ships it without a bundler; it builds the DOM with
 * textContent only (names, alarms and alert texts come from targets and are
 * never parsed as HTML). Charts are drawn on canvases by a small function
 * of its own: no chart library, nothing fetched from elsewhere.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var POINTS_MAX = 600;
  var points = [];
  var CHARTS = {
    rate: { unit: '/s', series: [
      { key: 'gatewayRps', label: 'gateway', color: '#0969da' },
      { key: 'storeRps', label: 'store', color: '#8250df' },
      { key: 'loadRps', label: 'load test', color: '#bf8700' }] },
    latency: { unit: 'ms', series: [
      { key: 'gatewayP50Ms', label: 'gw p50', color: '#54aeff' },
      { key: 'gatewayP90Ms', label: 'gw p90', color: '#0969da' },
      { key: 'gatewayP99Ms', label: 'gw p99', color: '#0a3069' },
      { key: 'storeP99Ms', label: 'store p99', color: '#8250df' }] },
    errors: { unit: '/s', series: [
      { key: 'gatewayErrorRps', label: 'gateway 5xx', color: '#cf222e' },
      { key: 'storeErrorRps', label: 'store errors', color: '#bc4c00' }] }
  };

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    if (attributes) Object.keys(attributes).forEach(function (name) {
      if (attributes[name] === undefined || attributes[name] === null) return;
      if (name === 'text') node.textContent = String(attributes[name]);
      // Through the CSSOM: the Content-Security-Policy refuses style attributes in markup.
      else if (name === 'css') Object.keys(attributes.css).forEach(function (property) { node.style[property] = attributes.css[property]; });
      else node.setAttribute(name, String(attributes[name]));
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function replace(id, children) {
    var target = document.getElementById(id);
    target.classList.remove('muted');
    while (target.firstChild) target.removeChild(target.firstChild);
    children.forEach(function (child) { if (child) target.appendChild(child); });
  }
  function number(value, digits) {
    if (value === undefined || value === null || !isFinite(value)) return '-';
    return Number(value).toFixed(digits === undefined ? 0 : digits);
  }
  function bytes(value) {
    if (value === undefined || value === null) return '-';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'];
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return (unit === 0 ? value : value.toFixed(1)) + ' ' + units[unit];
  }
  function table(headers, rows) {
    return el('table', null, [
      el('thead', null, [el('tr', null, headers.map(function (h) { return el('th', { text: h }); }))]),
      el('tbody', null, rows)
    ]);
  }

  function renderCluster(cluster) {
    var leader = cluster.leader;
    replace('cluster-facts', [
      el('span', { text: 'leader ' }, [el('b', { id: 'leader-name', text: leader || 'none' })]),
      el('span', { text: 'term ' }, [el('b', { text: number(cluster.term) })]),
      el('span', { text: 'answering ' }, [el('b', { text: cluster.answered + '/' + cluster.members.length })])
    ]);
    var zones = {};
    cluster.members.forEach(function (member) {
      var zone = member.zone || 'no zone';
      (zones[zone] = zones[zone] || []).push(member);
    });
    replace('zones', Object.keys(zones).sort().map(function (zone) {
      return el('div', { 'class': 'zone', 'data-zone': zone }, [el('h3', { text: 'zone ' + zone })].concat(zones[zone].map(renderMember)));
    }));
  }

  function renderMember(member) {
    var title = el('div', null, [
      el('span', { 'class': 'name', text: member.name }),
      member.isLeader ? el('span', { 'class': 'badge leader', 'data-badge': 'leader', text: 'leader' }) : null,
      member.isLearner ? el('span', { 'class': 'badge', text: 'learner' }) : null,
      el('span', { 'class': 'badge health-' + member.health, text: member.health === 'ok' ? 'healthy' : member.health === 'down' ? 'down' : 'degraded' })
    ]);
    var facts = el('dl', null, [
      el('dt', { text: 'term' }), el('dd', { text: number(member.term) }),
      el('dt', { text: 'lag' }), el('dd', { 'data-field': 'lag', text: number(member.lag) }),
      el('dt', { text: 'commit' }), el('dd', { text: number(member.commitIndex) }),
      el('dt', { text: 'applied' }), el('dd', { text: number(member.appliedIndex) }),
      el('dt', { text: 'db' }), el('dd', { text: bytes(member.dbSizeBytes) }),
      el('dt', { text: 'pid' }), el('dd', { text: member.pid === undefined || member.pid === null ? '-' : member.pid + (member.restarts ? ' (' + member.restarts + ' restarts)' : '') }),
      el('dt', { text: 'alarms' }), el('dd', { text: member.alarms.length ? member.alarms.join(', ') : 'none' })
    ]);
    return el('div', {
      'class': 'member health-' + member.health,
      'data-member': member.name,
      'data-health': member.health,
      'data-leader': member.isLeader ? 'true' : 'false',
      title: member.url
    }, [title, facts, member.reason ? el('div', { 'class': 'reason', text: member.reason }) : null]);
  }

  function renderGateway(gateway) {
    if (!gateway) return;
    var parts = [el('div', { 'class': 'facts' }, [
      el('span', { text: 'admin ' + gateway.url }),
      el('span', { 'data-gateway': gateway.up ? 'up' : 'down', 'class': gateway.up ? '' : 'error', text: gateway.up ? (gateway.draining ? 'draining' : 'up') : 'not answering' }),
      el('span', { text: 'in flight ' }, [el('b', { text: number(gateway.inflight) })]),
      el('span', { 'data-breakers': gateway.breakersOpen ? 'open' : 'closed', 'class': gateway.breakersOpen ? 'error' : '', text: gateway.breakersOpen ? 'circuit breaker open' : 'circuit breakers closed' })
    ])];
    if (gateway.error) parts.push(el('div', { 'class': 'error', text: gateway.error }));
    parts.push(table(['cluster', 'endpoint', 'zone', 'health', 'ejected', 'ejections', 'in flight', 'pending'], gateway.endpoints.map(function (endpoint) {
      return el('tr', { 'class': 'health-' + endpoint.health, 'data-endpoint': endpoint.address, 'data-health': endpoint.health }, [
        el('td', { text: endpoint.cluster }), el('td', { text: endpoint.address }), el('td', { text: endpoint.zone }),
        el('td', { text: endpoint.healthy ? (endpoint.draining ? 'draining' : 'healthy') : 'unhealthy' }),
        el('td', { text: endpoint.ejected ? 'yes' : 'no' }), el('td', { text: endpoint.ejections }),
        el('td', { text: endpoint.inflight }), el('td', { text: endpoint.pending })
      ]);
    })));
    parts.push(gateway.rejections.length === 0 ? el('div', { 'class': 'muted', text: 'no requests refused (rate limits, shedding, breakers)' }) :
      table(['refused because', 'criticality', 'total', 'per s'], gateway.rejections.map(function (rejection) {
        return el('tr', { 'data-rejection': rejection.reason + ' ' + rejection.criticality }, [
          el('td', { text: rejection.reason }), el('td', { text: rejection.criticality }),
          el('td', { text: number(rejection.total) }), el('td', { text: number(rejection.perSecond, 1) })
        ]);
      })));
    var limits = Object.keys(gateway.concurrency || {});
    if (limits.length) parts.push(table(['adaptive concurrency', 'limit', 'in flight', 'queued', 'shed'], limits.map(function (name) {
      var entry = gateway.concurrency[name] || {};
      return el('tr', null, [el('td', { text: name }), el('td', { text: number(entry.limit) }), el('td', { text: number(entry.inflight) }), el('td', { text: number(entry.queued) }), el('td', { text: number(entry.shedFromQueue) })]);
    })));
    replace('gateway-body', parts);
  }

  function renderSlo(slo) {
    if (!slo.configured) return;
    if (slo.error) return replace('slo-body', [el('div', { 'class': 'error', 'data-slo-error': 'true', text: slo.error })]);
    if (slo.objectives.length === 0) return replace('slo-body', [el('div', { 'class': 'muted', text: 'no objectives' })]);
    replace('slo-body', [table(['SLO', 'objective', 'budget left', 'burn rates'], slo.objectives.map(function (objective) {
      var known = objective.budgetRemaining !== null;
      var left = known ? Math.max(0, Math.min(1, objective.budgetRemaining)) : 0;
      return el('tr', { 'class': objective.alerting ? 'health-down' : 'health-ok', 'data-slo': objective.name, 'data-alerting': objective.alerting ? 'true' : 'false' }, [
        el('td', { text: objective.name }),
        el('td', { text: (objective.objective * 100).toFixed(3).replace(/\.?0+$/, '') + '%' }),
        el('td', null, [el('div', { text: known ? (objective.budgetRemaining * 100).toFixed(1) + '%' : 'no data yet' }), el('div', { 'class': 'meter' }, [el('div', { 'class': left < 0.25 ? 'low' : '', css: { width: (left * 100).toFixed(1) + '%' } })])]),
        el('td', { text: objective.burnRates.map(function (burn) { return burn.window + ' ' + (burn.burnRate === null ? '-' : burn.burnRate.toFixed(2) + 'x'); }).join(', ') })
      ]);
    }))]);
  }

  function renderAlerts(alerts) {
    if (!alerts.configured) return;
    var parts = alerts.errors.map(function (error) { return el('div', { 'class': 'error', text: error }); });
    if (alerts.alerts.length === 0) parts.push(el('div', { 'class': 'muted', 'data-alerts': '0', text: 'no alerts firing' }));
    else parts.push(table(['alert', 'state', 'severity', 'since', 'summary'], alerts.alerts.map(function (alert) {
      return el('tr', { 'class': 'alert state-' + alert.state, 'data-alert': alert.name }, [
        el('td', { text: alert.name }), el('td', { text: alert.state + ' (' + alert.source + ')' }), el('td', { text: alert.severity }),
        el('td', { text: alert.since || '' }), el('td', { text: alert.summary })
      ]);
    })));
    if (alerts.more) parts.push(el('div', { 'class': 'muted', text: alerts.more + ' more not shown' }));
    replace('alerts-body', parts);
  }

  function renderLoad(load) {
    if (!load.configured) return;
    if (!load.running) return replace('load-body', [el('div', { 'class': 'muted', 'data-load': 'idle', text: 'no load test running' })]);
    replace('load-body', [el('div', { 'class': 'facts', 'data-load': 'running' }, [
      el('span', { text: 'VUs ' }, [el('b', { text: number(load.vus) })]),
      el('span', { text: 'req/s ' }, [el('b', { text: number(load.requestsPerSecond, 1) })]),
      el('span', { text: 'failed/s ' }, [el('b', { text: number(load.failedPerSecond, 1) })]),
      el('span', { text: 'p99 ' }, [el('b', { text: number(load.p99Ms, 1) + ' ms' })]),
      el('span', { text: 'requests ' }, [el('b', { text: number(load.requests) })]),
      el('span', { text: 'dropped ' }, [el('b', { text: number(load.droppedIterations) })])
    ])]);
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function drawChart(name) {
    var chart = CHARTS[name];
    var canvas = document.querySelector('canvas[data-chart="' + name + '"]');
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    var g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    var left = 44, right = 8, top = 8, bottom = 18;
    var plotWidth = width - left - right, plotHeight = height - top - bottom;
    var max = 0;
    points.forEach(function (point) { chart.series.forEach(function (s) { var v = point[s.key]; if (v !== null && v !== undefined && isFinite(v) && v > max) max = v; }); });
    max = niceMax(max);
    var t1 = points.length ? points[points.length - 1].t : Date.now();
    var t0 = Math.min(points.length ? points[0].t : t1, t1 - 60000);
    var x = function (t) { return left + ((t - t0) / Math.max(1, t1 - t0)) * plotWidth; };
    var y = function (v) { return top + plotHeight - (v / max) * plotHeight; };
    g.font = '10px system-ui, sans-serif';
    g.fillStyle = '#656d76';
    g.strokeStyle = '#eaeef2';
    g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var value = (max * i) / 4;
      g.beginPath(); g.moveTo(left, y(value)); g.lineTo(left + plotWidth, y(value)); g.stroke();
      g.fillText(value >= 100 ? value.toFixed(0) : value.toPrecision(2), 2, y(value) + 3);
    }
    g.fillText(Math.round((t1 - t0) / 1000) + ' s', left, height - 4);
    g.fillText('now', left + plotWidth - 18, height - 4);
    chart.series.forEach(function (s) {
      g.strokeStyle = s.color;
      g.lineWidth = 1.5;
      g.beginPath();
      var drawing = false;
      points.forEach(function (point) {
        var v = point[s.key];
        if (v === null || v === undefined || !isFinite(v)) { drawing = false; return; }
        if (drawing) g.lineTo(x(point.t), y(v)); else g.moveTo(x(point.t), y(v));
        drawing = true;
      });
      g.stroke();
    });
    canvas.setAttribute('data-points', String(points.length));
  }

  function renderLegends() {
    Object.keys(CHARTS).forEach(function (name) {
      var holder = document.querySelector('[data-legend="' + name + '"]');
      while (holder.firstChild) holder.removeChild(holder.firstChild);
      CHARTS[name].series.forEach(function (s) {
        holder.appendChild(el('span', null, [el('i', { css: { background: s.color } }), document.createTextNode(s.label)]));
      });
    });
  }

  function drawCharts() { Object.keys(CHARTS).forEach(drawChart); }

  function onState(state) {
    renderCluster(state.cluster);
    renderGateway(state.gateway);
    renderSlo(state.slo);
    renderAlerts(state.alerts);
    renderLoad(state.load);
    if (!points.length || points[points.length - 1].t < state.point.t) points.push(state.point);
    if (points.length > POINTS_MAX) points.splice(0, points.length - POINTS_MAX);
    drawCharts();
    var down = state.cluster.members.filter(function (m) { return m.health === 'down'; }).length;
    document.getElementById('summary').textContent = down ? down + ' member' + (down > 1 ? 's' : '') + ' down' : '';
    document.getElementById('updated').textContent = 'updated ' + new Date(state.at).toLocaleTimeString() + ', every ' + (state.intervalMs / 1000) + ' s';
    document.body.setAttribute('data-updated', String(state.at));
  }

  function setConnection(value) {
    var node = document.getElementById('connection');
    node.setAttribute('data-connection', value);
    node.textContent = value;
  }

  renderLegends();
  var source = new EventSource('/events');
  source.addEventListener('open', function () { setConnection('live'); });
  source.addEventListener('error', function () { setConnection(source.readyState === 2 ? 'lost' : 'reconnecting'); });
  source.addEventListener('history', function (event) {
    points = JSON.parse(event.data).slice(-POINTS_MAX);
    drawCharts();
  });
  source.addEventListener('state', function (event) { onState(JSON.parse(event.data)); });
  window.addEventListener('resize', drawCharts);
})();
`;
