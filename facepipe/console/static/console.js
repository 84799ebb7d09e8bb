// The live view: each device card is replaced by the server's newer rendering of it (server-sent events).
(function () {
  const state = document.getElementById("live-state");
  const devices = document.getElementById("devices");
  const source = new EventSource("/events");
  source.onopen = () => { state.textContent = "live"; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("card", (event) => {
    const card = JSON.parse(event.data);
    const holder = document.createElement("div");
    holder.innerHTML = card.html;
    const fresh = holder.firstElementChild;
    const old = document.getElementById(card.id);
    if (old) { old.replaceWith(fresh); } else { devices.appendChild(fresh); }
    const none = document.getElementById("no-devices");
    if (none) { none.remove(); }
  });
})();
