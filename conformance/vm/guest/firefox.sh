# The browser case of the guest suite (sourced by suite.sh): Firefox ESR, a normal browser,
# registers a passkey on softkey and signs in with no user name, end to end on a real kernel.
#
# The key is attached with `usbip attach` and has a PIN. A relying party inside the guest
# (rp_server.py: python-fido2's Fido2Server verifying every response; rp_page.html) serves
# http://localhost:8000. Firefox runs as the non-root user `fido` (hidraw access through the
# plugdev udev rule) on an Xvfb display with openbox, and opens the page, which calls
# navigator.credentials.create() (residentKey and userVerification required) and then
# navigator.credentials.get() with no allowCredentials. Firefox asks for the PIN in its own
# tab-modal dialog both times; it is answered as a person would, by typing it (xdotool) into
# the focused Firefox window.
#
# When to type: Firefox (140 ESR) asks for the PIN in a standard tab-modal dialog ("Please enter
# the PIN for your device."), announced like every such dialog on the observer topic
# "common-dialog-loaded"; WebAuthn's own progress ("presence" and the like) is announced on
# "webauthn-prompt". An enterprise autoconfig file (the standard Firefox mechanism, written into
# the install directory at run time) only logs those announcements, with the dialog's text, to
# Firefox's stderr. The script types the PIN once a new dialog is logged (the only dialogs in
# this flow ask for the PIN), after a pause for it to take focus. A dialog or prompt saying the
# PIN was wrong fails the case.
#
# Screenshots of each step go to /job/screens/case-12 (kept under target/ by ../suite.sh when
# the case fails), with the Firefox, RP and X logs.

FF_PIN=2468
FF_PORT=8000
FF_DISPLAY=:99
FF_DEADLINE=420 # seconds for the whole browser session under TCG

ff_screens=/job/screens/case-12

# shot NAME: a screenshot of the whole display (ImageMagick's import).
shot() {
    DISPLAY=$FF_DISPLAY import -window root "$ff_screens/$(printf '%02d' "$ff_shot")-$1.png" 2> /dev/null
    ff_shot=$((ff_shot + 1))
}

# What Firefox announced so far, one line each: WebAuthn prompt types ("presence" etc.) and
# "dialog: TEXT" for each dialog it opened.
ff_prompts() {
    sed -n -e 's/^softkey-prompt webauthn-prompt .*"type":"\([a-z-]*\)".*/\1/p' \
        -e 's/^softkey-prompt \(common\|tabmodal\)-dialog-loaded *\(.*\)/dialog: \2/p' \
        "$W/firefox.log" 2> /dev/null
}

ff_events() { cat "$W/rp/events" 2> /dev/null; }

ff_type_pin() {
    local win
    sleep 1.5 # the dialog takes the focus a moment after it is announced
    shot "pin-dialog-$1"
    win="$(DISPLAY=$FF_DISPLAY xdotool search --onlyvisible --class firefox | tail -1)"
    [[ -n "$win" ]] && DISPLAY=$FF_DISPLAY xdotool windowactivate --sync "$win" 2> /dev/null
    DISPLAY=$FF_DISPLAY xdotool type --delay 120 "$FF_PIN"
    sleep 1 # without the pause, Return can overtake the last digits (an empty PIN is sent)
    shot "pin-typed-$1"
    DISPLAY=$FF_DISPLAY xdotool key Return
    say "typed the PIN into Firefox's dialog ($1)"
}

ff_setup_firefox() {
    local lib
    lib="$(dirname "$(readlink -f "$(command -v firefox-esr)")")"
    # Autoconfig: log each WebAuthn dialog announcement; change nothing else.
    cat > "$lib/defaults/pref/softkey-autoconfig.js" << 'EOF'
pref("general.config.filename", "softkey-observer.cfg");
pref("general.config.obscure_value", 0);
pref("general.config.sandbox_enabled", false);
EOF
    cat > "$lib/softkey-observer.cfg" << 'EOF'
// softkey guest suite: write each WebAuthn announcement and each dialog Firefox opens to stderr.
const softkeyObs = Components.classes["@mozilla.org/observer-service;1"]
  .getService(Components.interfaces.nsIObserverService);
const softkeyLog = {
  observe(subject, topic, data) {
    let text = "";
    try {
      text = subject.document.getElementById("infoBody").textContent;
    } catch (e) {}
    dump("softkey-prompt " + topic + " " + (data || "") + " " + text.replace(/\s+/g, " ") + "\n");
  },
};
for (const topic of ["webauthn-prompt", "common-dialog-loaded", "tabmodal-dialog-loaded"]) {
  softkeyObs.addObserver(softkeyLog, topic);
}
dump("softkey-prompt-observer installed\n");
EOF
    rm -rf /tmp/ff-profile
    mkdir -p /tmp/ff-profile
    # A quiet first run: no welcome pages, updates, telemetry or background connections
    # (the guest reaches nothing but the host), software rendering under TCG.
    cat > /tmp/ff-profile/user.js << 'EOF'
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.startup.page", 0);
user_pref("startup.homepage_welcome_url", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("layers.acceleration.disabled", true);
user_pref("browser.dom.window.dump.enabled", true);
user_pref("security.webauthn.ctap2", true);
EOF
    chown -R fido:fido /tmp/ff-profile
}

ff_cleanup() {
    local p
    for p in $ff_pids; do kill "$p" 2> /dev/null; done
    # Started through as_fido (a function, so $! is a subshell): by name.
    pkill -u fido -f 'firefox-esr|rp_server\.py' 2> /dev/null
    sleep 1
    pkill -9 -u fido -f 'firefox-esr|rp_server\.py' 2> /dev/null
    cp "$W/firefox.log" "$W/rp.log" "$W/xvfb.log" "$ff_screens/" 2> /dev/null
    cp "$W/rp/events" "$ff_screens/rp-events.log" 2> /dev/null
}

# ff_session CASE [PROVISIONED_JSON]: the browser session against the attached key $DEV, whose
# PIN is $FF_PIN: the RP (with the provisioned credential, if given), Xvfb, openbox, Firefox;
# each PIN dialog answered by typing. Returns when the RP logged the page's last step, Firefox
# failed, or FF_DEADLINE passed; FF_ANSWERED is the number of PIN dialogs answered.
ff_session() {
    local t0 prompts n browser verdict=""
    ff_screens=/job/screens/case-$1
    ff_shot=0 ff_pids="" FF_ANSWERED=0
    rm -rf "$W/rp"
    mkdir -p "$ff_screens" "$W/rp"
    : > "$W/rp/events"
    chown -R fido:fido "$W/rp"

    as_fido python3 /job/guest/rp_server.py "$FF_PORT" "$W/rp" ${2:+"$2"} > "$W/rp.log" 2>&1 &
    ff_pids+=" $!"
    Xvfb "$FF_DISPLAY" -screen 0 1280x800x24 -nolisten tcp -ac -extension GLX > "$W/xvfb.log" 2>&1 &
    ff_pids+=" $!"
    for _ in $(seq 100); do [[ -e /tmp/.X11-unix/X${FF_DISPLAY#:} ]] && break; sleep 0.1; done
    DISPLAY=$FF_DISPLAY openbox > /dev/null 2>&1 &
    ff_pids+=" $!"
    ff_setup_firefox
    say "$(firefox-esr --version 2> /dev/null), RP at http://localhost:$FF_PORT (python-fido2 Fido2Server)"

    t0=$(ms)
    as_fido env DISPLAY=$FF_DISPLAY firefox-esr --no-remote --new-instance --profile /tmp/ff-profile \
        "http://localhost:$FF_PORT/" > "$W/firefox.log" 2>&1 &
    browser=$!
    ff_pids+=" $browser"

    while (($(ms) - t0 < FF_DEADLINE * 1000)); do
        # The background job, not a process search: for a moment after the fork, Firefox is
        # still setpriv running as root, and a search for the user's firefox-esr finds nothing.
        if ! kill -0 "$browser" 2> /dev/null; then
            verdict="Firefox exited: $(grep -v '^console\.\|^  ' "$W/firefox.log" | tail -3 | tr '\n' ' ')"
            break
        fi
        if (($(ms) - t0 > 240000)) && ! ff_events | grep -q '^page-loaded'; then
            verdict="Firefox did not load the RP page within 240 s"
            break
        fi
        if (($(ms) - t0 > 240000)) && ! grep -q 'softkey-prompt-observer installed' "$W/firefox.log"; then
            verdict="Firefox did not run the autoconfig observer (no dialog announcements to follow)"
            break
        fi
        if ff_events | grep -q '^error'; then
            verdict="the RP reported: $(ff_events | grep '^error' | head -1)"
            break
        fi
        if ff_events | grep -q '^logged-in' && ff_events | grep -q '^registered'; then break; fi
        prompts="$(ff_prompts)"
        if grep -qiE '^pin-invalid$|^dialog: .*(incorrect|wrong)' <<< "$prompts"; then
            verdict="Firefox says the typed PIN was wrong: $(grep -iE 'pin-invalid|incorrect|wrong' <<< "$prompts" | head -1)"
            break
        fi
        n="$(grep -c '^dialog:' <<< "$prompts")"
        if ((n > FF_ANSWERED)); then
            FF_ANSWERED=$((FF_ANSWERED + 1))
            say "Firefox asks: $(grep '^dialog:' <<< "$prompts" | tail -1) ($(($(ms) - t0)) ms after start)"
            ff_type_pin "$FF_ANSWERED"
        fi
        if [[ $ff_shot -eq 0 ]] && ff_events | grep -q '^page-loaded'; then
            say "page loaded ($(($(ms) - t0)) ms after start)"
            sleep 1
            shot page-loaded
        fi
        sleep 0.5
    done
    shot final
    say "Firefox announced: $(ff_prompts | tr '\n' ';')"
    ff_events | sed 's/^/    rp: /'
    ff_cleanup
    if [[ -n "$verdict" ]]; then
        why "$verdict"
        return 1
    fi
    if ! ff_events | grep -q '^registered' || ! ff_events | grep -q '^logged-in'; then
        why "no verified registration and login within ${FF_DEADLINE}s (events: $(ff_events | tr '\n' ';'))"
        return 1
    fi
    [[ $FF_ANSWERED -eq 2 ]] || { why "expected 2 PIN dialogs (create and get), answered $FF_ANSWERED"; return 1; }
    say "the RP verified a registration and a login, $(($(ms) - t0)) ms"
}

# The key registers a passkey, then signs in with it without a user name.
case_12() {
    local reg login
    install_fido_rule
    attach "$PORT_12" || return 1
    [[ "$(stat -c '%G %a' "$DEV")" == "plugdev 660" ]] || { why "$DEV is not plugdev 660"; return 1; }
    run "set the key's PIN" sh -c "printf '%s\n%s\n' $FF_PIN $FF_PIN | fido2-token -S '$DEV'" || return 1
    ff_session 12 || return 1
    reg="$(ff_events | sed -n 's/^registered //p')"
    login="$(ff_events | sed -n 's/^logged-in \([0-9a-f]*\).*/\1/p')"
    [[ "$reg" == "$login" ]] || { why "signed in with $login, registered $reg"; return 1; }
    say "registered and signed in without a user name, both verified by the RP"
    rm -rf "$ff_screens" # kept only when the case fails
}

# A test-lab authenticator (`softkey lab serve` on the host), whose PIN and one credential
# were provisioned through the lab's HTTP API (../lab_provision.py): Firefox signs in with
# the provisioned credential (the RP holds only its public key, so the lab's key signed),
# typing the PIN the API set, then registers a second passkey. The host checks afterwards,
# through the API, that the lab saw the assertion, the PIN and the new credential.
case_13() {
    local given login count want_id want_count reg
    given=/job/lab-credential.json
    [[ -s "$given" ]] || { why "the host did not provision the lab authenticator ($given)"; return 1; }
    install_fido_rule
    attach "$PORT_13" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["authenticator"])' "$given")" || return 1
    run "fido2-token -I" fido2-token -I "$DEV" || return 1
    grep -qP '^options: .*\bclientPin\b' "$W/out" \
        || { why "getInfo does not say a PIN is set: $(grep '^options' "$W/out")"; return 1; }
    FF_PIN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pin"])' "$given")"
    ff_session 13 "$given" || return 1
    want_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["credentialId"])' "$given")"
    want_count=$(($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signCount"])' "$given") + 1))
    read -r login count <<< "$(ff_events | sed -n 's/^logged-in //p')"
    [[ "$login" == "$want_id" ]] || { why "signed in with $login, not the provisioned $want_id"; return 1; }
    [[ "$count" == "$want_count" ]] || { why "signature counter $count, not the provisioned one plus 1 ($want_count)"; return 1; }
    reg="$(ff_events | sed -n 's/^registered //p')"
    [[ -n "$reg" && "$reg" != "$want_id" ]] || { why "no new credential registered ($reg)"; return 1; }
    say "signed in with the provisioned credential (counter $count), then registered $reg"
    rm -rf "$ff_screens" # kept only when the case fails
}
