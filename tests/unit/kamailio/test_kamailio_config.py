"""kamailio.cfg and the dispatcher list rendered from the settings (issue 14)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from line311.config import Settings, load_settings
from line311.errors import ConfigError
from line311.kamailio.errors import KamailioConfigError
from line311.kamailio.manager import (
    KamailioInstallation,
    KamailioManager,
    Peer,
    parse_dispatcher_list,
    parse_dmq_nodes,
)
from line311.sim.sipp import free_udp_port


def _manager(tmp_path: Path, settings: Settings) -> KamailioManager:
    inst = KamailioInstallation(
        "chroot", tmp_path / "root", "/usr/sbin/kamailio", "/usr/lib/kamailio/modules", "6.1.5"
    )
    return KamailioManager(settings, installation=inst)


def test_given_two_asterisks_then_kamailio_listens_publicly_and_dispatches_to_both(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, asterisks=2, sip_port=5060)
    mgr = _manager(tmp_path, settings)
    mgr.render()
    host_dir = tmp_path / "root/var/lib/line311/kamailio-main"
    cfg = (host_dir / "kamailio.cfg").read_text()
    assert "listen=udp:127.0.0.1:5060\n" in cfg
    assert 'modparam("dispatcher", "ds_probing_mode", 1)' in cfg
    assert 'modparam("dispatcher", "ds_ping_interval", 1)' in cfg
    assert 'lookup("location")' in cfg
    assert 'save("location")' in cfg
    assert settings.agent_password.get_secret_value() in cfg
    assert "{{" not in cfg
    entries = (host_dir / "dispatcher.list").read_text().splitlines()[1:]
    assert entries == ["1 sip:127.0.0.1:5161 0 0", "1 sip:127.0.0.1:5162 0 0"]


def _cfg(tmp_path: Path, **overrides: object) -> str:
    settings = load_settings(state_dir=tmp_path, asterisks=2, **overrides)
    _manager(tmp_path, settings).render()
    return (tmp_path / "root/var/lib/line311/kamailio-main/kamailio.cfg").read_text()


def test_given_the_shipped_settings_then_kamailio_keeps_the_phones_alive_and_drops_dead_ones(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    assert 'modparam("usrloc", "timer_interval", 30)' in cfg
    assert 'modparam("usrloc", "ka_mode", 1)' in cfg  # OPTIONS to every contact
    assert 'modparam("usrloc", "ka_interval", 30)' in cfg  # every 30 s
    assert 'modparam("usrloc", "ka_randomize", 6)' in cfg  # ... to 36 s, spread out
    assert 'modparam("usrloc", "ka_timeout", 60)' in cfg  # none answered for 60 s: removed
    # no registered phone: 404 (cause 1, could not be rung), not 480 (cause 19, a ring-out);
    # a phone that sends nothing back: 504 (cause 102), not tm's 408 (cause 18)
    assert 'sl_send_reply("404", "Not Registered")' in cfg
    assert '"480"' not in cfg
    assert 't_on_failure("PHONE")' in cfg
    assert 't_reply("504", "Phone Not Responding")' in cfg


def test_given_no_qualify_then_kamailio_sends_no_keepalive(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, agent_qualify_frequency=0)
    assert 'modparam("usrloc", "ka_mode", 0)' in cfg
    assert 'modparam("usrloc", "timer_interval", 60)' in cfg
    assert 'modparam("usrloc", "ka_timeout", 0)' in cfg


def test_given_a_short_qualify_then_the_keepalive_spread_is_never_zero(tmp_path: Path) -> None:
    """Kamailio takes a random number modulo ka_randomize: 0 killed a worker (SIGFPE)."""
    cfg = _cfg(tmp_path, agent_qualify_frequency=2, agent_qualify_timeout=1)
    assert 'modparam("usrloc", "ka_interval", 2)' in cfg
    assert 'modparam("usrloc", "ka_randomize", 1)' in cfg
    assert 'modparam("usrloc", "ka_timeout", 4)' in cfg


def test_given_a_password_with_a_quote_then_the_config_is_refused(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, asterisks=2)
    bad = settings.model_copy(update={"agent_password": SecretStr('abc"defghijklmnopq')})
    with pytest.raises(KamailioConfigError, match="agent_password"):
        _manager(tmp_path, bad).render()


def test_the_dispatcher_list_rpc_output_gives_each_asterisk_and_whether_it_is_up() -> None:
    text = """{
        SET: { ID: 1 TARGETS: {
            DEST: { IDX: 0
                URI: sip:127.0.0.1:5162
                FLAGS: AP }
            DEST: { IDX: 1
                URI: sip:127.0.0.1:5161
                FLAGS: IP } } } }"""
    one, two = parse_dispatcher_list(text)
    assert (one.uri, one.active) == ("sip:127.0.0.1:5162", True)
    assert (two.uri, two.active) == ("sip:127.0.0.1:5161", False)


def test_given_two_asterisks_then_kamailio_answers_rpc_on_its_own_tcp_port_to_this_host_only(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path, kamailio_rpc_port=5071, kamailio_rpc_token="t0ken-Of-the-RPC+/=~._")
    assert "listen=tcp:127.0.0.1:5071\n" in cfg
    assert "disable_tcp=yes" not in cfg
    assert 'loadmodule "jsonrpcs.so"' in cfg
    assert 'modparam("jsonrpcs", "transport", 1)' in cfg  # HTTP only: no FIFO, no socket
    assert "if ($Rp != 5071 || !(src_ip == 127.0.0.0/8 || src_ip == myself))" in cfg
    # then the bearer token, from every client
    rpc = cfg.split("\nevent_route[xhttp:request] {")[1].split("\n}\n")[0]
    token = rpc.index('if ($hdr(Authorization) != "Bearer t0ken-Of-the-RPC+/=~._") {')
    assert rpc.index("src_ip == myself") < token < rpc.index('xhttp_reply("401", "Unauthorized"')
    assert token < rpc.index("jsonrpc_dispatch()")
    assert 'if (!($hu =~ "^/RPC/?$"))' in cfg  # POST /RPC only
    assert "if (!jsonrpc_dispatch())" in cfg
    assert "if (proto != UDP)" in cfg  # no SIP on the TCP listener


def test_given_the_rpc_port_on_another_parts_port_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="kamailio_rpc_port and sip_port are both 5060"):
        load_settings(state_dir=tmp_path, asterisks=2, sip_port=5060, kamailio_rpc_port=5060)
    # one Asterisk runs no Kamailio: the port is not taken
    assert load_settings(state_dir=tmp_path, sip_port=5060, kamailio_rpc_port=5060).asterisks == 1


def test_given_something_on_the_rpc_port_then_kamailio_is_not_started_over_it(
    tmp_path: Path,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = load_settings(
            state_dir=tmp_path, asterisks=2, sip_port=free_udp_port(), kamailio_rpc_port=port
        )
        message = _manager(tmp_path, settings).in_use_message()
    assert message == f"something else already listens on 127.0.0.1:{port} (kamailio_rpc_port)"


def test_given_the_failover_timeout_then_a_new_calls_invite_waits_that_long_before_failing_over(
    tmp_path: Path,
) -> None:
    dispatch = _cfg(tmp_path).split("\nroute[DISPATCH] {")[1].split("failure_route[FAILOVER]")[0]
    assert "t_set_fr(0, 5000);" in dispatch  # the shipped 5 s, for this transaction only
    assert dispatch.index("t_set_fr(") < dispatch.index("t_relay()")
    assert 'modparam("tm", "fr_timer", 2000)' in _cfg(tmp_path)  # OPTIONS, phones: unchanged
    assert "t_set_fr(0, 2500);" in _cfg(tmp_path, kamailio_failover_timeout=2.5)


def test_given_a_failover_timeout_out_of_range_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="kamailio_failover_timeout"):
        load_settings(state_dir=tmp_path, asterisks=2, kamailio_failover_timeout=0.5)


def test_given_two_asterisks_then_an_answer_after_the_calls_failover_is_ended_by_kamailio(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    dispatch = cfg.split("\nroute[DISPATCH] {")[1].split("\n}\n")[0]
    failover = cfg.split("\nfailure_route[FAILOVER] {")[1].split("\n}\n")[0]
    late = cfg.split("\nroute[LATE_ANSWER] {")[1].split("\n}\n")[0]
    # every branch of a new call (the first and each failover) has its replies looked at
    assert dispatch.index('t_on_reply("MEDIA")') < dispatch.index("t_relay()")
    assert failover.index('t_on_reply("MEDIA")') < failover.index("t_relay()")
    assert "$sht(branch=>$ci/$cs) = 0;" in dispatch  # kept for dispatched calls only
    media = cfg.split("\nonreply_route[MEDIA] {")[1].split("\n}\n")[0]
    stray = cfg.split("\nonreply_route[stray] {")[1].split("\n}\n")[0]
    assert media.index("$var(stray) = 0;") < media.index("route(LATE_ANSWER);")
    assert stray.index("$var(stray) = 1;") < stray.index("route(LATE_ANSWER);")
    # the branch the INVITE waits on: none once tm ended one (whatever ended it, the caller's
    # CANCEL too), then the one t_relay adds next
    ended = failover.index("$sht(branch=>$ci/$cs) = -1;")
    assert ended < failover.index("if (t_is_canceled()) {")
    assert ended < failover.index("if (ds_next_dst()) {")
    assert (
        ended
        < failover.index("$sht(branch=>$ci/$cs) = $T_branch_idx;")
        < failover.index("t_relay()")
    )
    assert 'loadmodule "tmx.so"' in cfg  # $T_branch_idx
    # the answer on that branch is the caller's (whichever came first); one on another branch,
    # or after the transaction from an Asterisk the caller has no answer of, gets ACK then BYE
    assert late.index("if ($T_branch_idx == $sht(branch=>$ci/$cs)) {") < late.index('\\"ACK\\"')
    assert late.index('} else if ($sht(winner=>$ci/$cs) == $si + ":" + $sp) {') < late.index(
        '\\"ACK\\"'
    )
    assert late.index('\\"ACK\\"') < late.index('\\"BYE\\"') < late.rindex("drop;")
    assert late.count('jsonrpc_exec("$var(cmd)");') == 2
    assert '!ds_is_from_list("1")' in late  # an Asterisk's answer, not a carrier's
    # each copy of the late 200 OK is ACKed, and its call gets one BYE
    assert late.index('\\"ACK\\"') < late.index("$sht(winner=>$ci/$cs/$si:$sp/bye) != $null")
    assert 'loadmodule "uac.so"' not in cfg  # tm's RPC client, not uac_req_send
    # each value of the dialog quoted into that RPC's JSON; a control character refused
    for value in ("fu", "ft", "tu", "tt", "ci", "var(target)"):
        assert late.index(f"$({value}{{val.json}})") < late.index('\\"ACK\\"'), value
    assert late.index('if ($var(dialog) =~ "[[:cntrl:]]") {') < late.index('\\"ACK\\"')


def test_given_two_asterisks_then_kamailio_counts_failovers_and_late_answers_for_metrics(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path)
    assert 'loadmodule "kex.so"' in cfg  # stats.fetch over JSON-RPC
    assert 'modparam("statistics", "variable", "line311_failovers")' in cfg
    assert 'modparam("statistics", "variable", "line311_late_answers")' in cfg
    failover = cfg.split("\nfailure_route[FAILOVER] {")[1].split("\n}\n")[0]
    next_dst = failover.index("if (ds_next_dst()) {")
    assert failover.index('update_stat("line311_failovers", "+1");') > next_dst
    late = cfg.split("\nroute[LATE_ANSWER] {")[1].split("\n}\n")[0]
    once = late.index("$sht(winner=>$ci/$cs/$si:$sp/bye) = 1;")
    assert late.index('update_stat("line311_late_answers", "+1");') > once  # once per call


def test_given_networks_allowed_then_kamailio_answers_rpc_from_them_too(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, kamailio_rpc_allow="10.0.0.0/24, 192.0.2.7,2001:db8::/64")
    assert (
        "if ($Rp != 5070 || !(src_ip == 127.0.0.0/8 || src_ip == myself"
        " || src_ip == 10.0.0.0/24 || src_ip == 192.0.2.7/32 || src_ip == 2001:db8::/64))"
    ) in cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kamailio_rpc_allow": "10.0.0.0/24,10.0.0.5/24"}, r"kamailio_rpc_allow.*'10.0.0.5/24'"),
        ({"kamailio_rpc_allow": "kamailio.example"}, r"kamailio_rpc_allow.*not a network"),
        ({"kamailio_rpc_allow": "[10.0.0.0/8"}, r"kamailio_rpc_allow.*not a JSON list"),
        ({"kamailio_rpc_token": 'a"b\\c-token-0123456789'}, r"kamailio_rpc_token.*bearer token"),
        ({"kamailio_rpc_token": "short"}, r"kamailio_rpc_token is too weak"),
    ],
)
def test_given_a_bad_rpc_allow_or_token_then_the_settings_are_refused(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(state_dir=tmp_path, asterisks=2, **overrides)


def test_given_no_rpc_token_then_one_is_generated_and_kept(tmp_path: Path) -> None:
    first = load_settings(state_dir=tmp_path).kamailio_rpc_token.get_secret_value()
    assert len(first) >= 16
    assert load_settings(state_dir=tmp_path).kamailio_rpc_token.get_secret_value() == first


def test_given_no_peers_then_kamailio_is_one_node_with_nothing_of_dmq(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert "dmq" not in cfg.replace("dmq_listen", "")
    assert 'modparam("htable", "htable", "media=>size=12;autoexpire=14400;")' in cfg
    assert "{{" not in cfg


def test_given_a_peer_then_kamailio_shares_registrations_and_media_with_it_over_dmq(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path, kamailio_peers="127.0.0.1:5091", kamailio_dmq_port=5090)
    # its own DMQ listener after the SIP one (SIP requests it makes leave from the SIP port)
    assert cfg.index("listen=udp:127.0.0.1:5060\n") < cfg.index("listen=udp:127.0.0.1:5090\n")
    assert cfg.index('loadmodule "usrloc.so"') < cfg.index('loadmodule "dmq.so"')
    assert cfg.index('loadmodule "dmq.so"') < cfg.index('loadmodule "dmq_usrloc.so"')
    assert 'modparam("dmq", "server_address", "sip:127.0.0.1:5090")' in cfg
    assert 'modparam("dmq", "notification_address", "sip:127.0.0.1:5091")' in cfg
    assert 'modparam("dmq_usrloc", "enable", 1)' in cfg
    assert 'modparam("dmq_usrloc", "sync", 1)' in cfg  # a node that starts asks for all
    assert 'modparam("htable", "htable", "media=>size=12;autoexpire=14400;dmqreplicate=1;")' in cfg
    assert 'modparam("htable", "enable_dmq", 1)' in cfg
    # the DMQ port takes KDMQ from the peer only, before anything else; nothing else there
    route = cfg.split("\nrequest_route {\n")[1]
    assert route.startswith("\tif ($Rp == 5090) {\n")
    kdmq = route.index('if (is_method("KDMQ") && ((src_ip == 127.0.0.1 && src_port == 5091))) {')
    assert kdmq < route.index("dmq_handle_message();") < route.index('"403", "Not a peer"')
    assert route.index('"403", "Not a peer"') < route.index("if (proto != UDP) {")
    assert "{{" not in cfg


@pytest.mark.parametrize(
    ("peers", "message"),
    [
        ("kamailio-b:5090", r"kamailio_peers.*IP:port.*'kamailio-b:5090'"),
        ("10.0.0.12", r"kamailio_peers.*IP:port"),
        ("10.0.0.12:70000", r"kamailio_peers.*IP:port"),
    ],
)
def test_given_a_peer_that_is_not_ip_and_port_then_the_settings_are_refused(
    tmp_path: Path, peers: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(state_dir=tmp_path, asterisks=2, kamailio_peers=peers)


def test_given_a_peer_then_its_dmq_port_must_be_one_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kamailio_dmq_port and sip_port are both 5060"):
        load_settings(
            state_dir=tmp_path,
            asterisks=2,
            sip_port=5060,
            kamailio_peers="10.0.0.12:5090",
            kamailio_dmq_port=5060,
        )
    settings = load_settings(state_dir=tmp_path, kamailio_peers="[2001:db8::12]:5090")
    assert settings.kamailio_peers == ["[2001:db8::12]:5090"]


def test_the_peers_are_read_from_dmq_list_nodes_as_kamailio_6_1_prints_it() -> None:
    text = (  # kamcmd dmq.list_nodes of Kamailio 6.1.5, one peer and itself
        "{\n\thost: 127.0.0.1\n\tport: 54347\n\tproto: *\n\tresolved_ip: 127.0.0.1\n"
        "\tstatus: active\n\tlast_notification: 0\n\tlocal: 0\n\tfail_count: 0\n}\n"
        "{\n\thost: 127.0.0.1\n\tport: 45128\n\tproto: *\n\tresolved_ip: 127.0.0.1\n"
        "\tstatus: active\n\tlast_notification: 0\n\tlocal: 1\n\tfail_count: 0\n}\n"
        "{\n\thost: 2001:db8::12\n\tport: 5090\n\tstatus: not_active\n\tlocal: 0\n}\n"
    )
    assert parse_dmq_nodes(text) == (
        Peer("127.0.0.1:54347", "active"),
        Peer("[2001:db8::12]:5090", "not_active"),
    )
    assert [p.active for p in parse_dmq_nodes(text)] == [True, False]
    assert parse_dmq_nodes("") == ()  # not answering
