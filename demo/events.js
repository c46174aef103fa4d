// The demo pages' events, as the seed's pages send them (steps 4 to 9):
// ts, deviceId, source, event, params, POSTed to /events as JSON; nginx
// adds the receive time and the device's groups.  keepalive lets an event
// outlive the page.  <body data-sent> lists the events the server took.
(function () {
  'use strict';

  var sent = [];

  function getCookie(name) {
    var value = '; ' + document.cookie;
    var parts = value.split('; ' + name + '=');
    if (parts.length === 2) return parts.pop().split(';').shift();
  }

  function sendEvent(deviceId, eventName, params) {
    return fetch('/events', {
      method: 'POST',
      keepalive: true,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        ts: new Date().toISOString(),
        deviceId: deviceId,
        source: 'browser',
        event: eventName,
        params: params || {}
      })
    }).then(function (res) {
      if (res.ok) {
        sent.push(eventName);
        document.body.dataset.sent = sent.join(' ');
      }
      return res.ok;
    }, function () {
      return false;
    });
  }

  // a click on the button sends button_click with the button's group
  function sendClicks(button, status, deviceId) {
    button.addEventListener('click', function () {
      sendEvent(deviceId, 'button_click', { btn_type: button.dataset.group })
        .then(function (ok) {
          status.textContent = ok ? 'Thanks! Your click was counted.'
                                  : 'The click could not be sent.';
        });
    });
  }

  window.abtestDemo = {
    getCookie: getCookie,
    sendEvent: sendEvent,
    sendClicks: sendClicks
  };
})();
