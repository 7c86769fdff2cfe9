"""Rates over time from readings of the services' counters, and the health page's rate charts."""

from __future__ import annotations

from services.console import charts, rates
from tests.unit.console.fakes import sign_in


def exposition(started: float, ok: float, failed: float = 0, seconds_sum: float = 0.0, scrapes: float = 0) -> str:
    count = ok + failed
    return f"""# TYPE process_start_time_seconds gauge
process_start_time_seconds {started}
touchpoint_http_requests_total{{endpoint="tasks.Tasks",method="GET",service="channels",status="200"}} {ok}
touchpoint_http_requests_total{{endpoint="tasks.Tasks",method="GET",service="channels",status="500"}} {failed}
touchpoint_http_requests_total{{endpoint="health.metrics",method="GET",service="channels",status="200"}} {scrapes}
touchpoint_http_request_seconds_count{{endpoint="tasks.Tasks",service="channels"}} {count}
touchpoint_http_request_seconds_sum{{endpoint="tasks.Tasks",service="channels"}} {seconds_sum}
touchpoint_http_request_seconds_count{{endpoint="health.metrics",service="channels"}} {scrapes}
touchpoint_http_request_seconds_sum{{endpoint="health.metrics",service="channels"}} {scrapes * 5}
"""


def test_consecutive_readings_of_a_process_become_rates_and_the_scrapes_are_left_out():
    history = rates.History(keep=3)
    history.add("channels", charts.parse(exposition(1000.0, ok=100, seconds_sum=1.0, scrapes=7)), at=1100.0)
    [[since_start]] = history.intervals("channels").values()  # read once: its average since it started
    assert (since_start.start, since_start.end, since_start.requests_per_second) == (1000.0, 1100.0, 1.0)
    assert since_start.mean_latency_ms == 10.0
    history.add("channels", charts.parse(exposition(1000.0, ok=160, failed=20, seconds_sum=5.0, scrapes=8)),
                at=1120.0)
    [[later]] = history.intervals("channels").values()
    assert (later.start, later.end) == (1100.0, 1120.0)
    assert later.requests_per_second == 4.0 and later.errors_per_second == 1.0
    assert later.mean_latency_ms == 50.0  # 4 s over 80 requests
    assert later.endpoint_rates == {"tasks.Tasks": 4.0} and later.status_rates == {"200": 3.0, "500": 1.0}
    for at in (1140.0, 1160.0, 1180.0):
        history.add("channels", charts.parse(exposition(1000.0, ok=160 + at - 1120, failed=20, seconds_sum=5.0)), at)
    [kept] = history.intervals("channels").values()
    assert len(kept) == 2 and kept[-1].end == 1180.0  # only the last three readings are kept


def test_processes_are_told_apart_and_a_falling_counter_starts_the_series_again():
    history = rates.History()
    history.add("campaigns", charts.parse(exposition(1000.0, ok=50)), at=1050.0)
    history.add("campaigns", charts.parse(exposition(1010.5, ok=10)), at=1060.0)
    assert len(history.intervals("campaigns")) == 2
    history.add("campaigns", charts.parse(exposition(1000.0, ok=20)), at=1070.0)  # a worker in the same tick
    assert [len(i) for i in history.intervals("campaigns").values()] == [1, 1]
    assert all(i.requests_per_second >= 0 for rows in history.intervals("campaigns").values() for i in rows)
    assert history.intervals("contacts") == {}


def test_step_charts_draw_values_across_their_intervals():
    drawn = str(charts.step_chart({"worker": [(0.0, 10.0, 2.0), (10.0, 30.0, 4.0)], "idle": [(0.0, 30.0, None)]},
                                  "requests per second", "/s"))
    assert drawn.startswith("<svg") and drawn.count("<path") == 1 and "latest 4.0/s, peak 4.0/s" in drawn
    assert "No figures" in str(charts.step_chart({"idle": [(0.0, 1.0, None)]}, "x", ""))


def test_the_health_page_draws_rates_over_time(app, services, monkeypatch):
    monkeypatch.setattr("services.console.views.operator._health",
                        lambda service, base: {"service": service, "url": base, "ok": True, "checks": {}})
    now = [2000.0]
    monkeypatch.setattr("services.console.views.operator.time", type("T", (), {"time": lambda: now[0]}))
    counts = iter([100, 400])
    services.texts[("channels", "/metrics")] = lambda: exposition(1000.0, ok=next(counts), seconds_sum=2.0)
    services.answers[("GET", "/dead-letters")] = []
    client = app.test_client()
    sign_in(client, "tp_operator")
    first = client.get("/operator").get_data(as_text=True)
    assert "latest: 0.10 requests/s" in first and 'class="chart line-chart"' in first
    now[0] = 2030.0
    second = client.get("/operator").get_data(as_text=True)
    assert "latest: 10.00 requests/s" in second and 'id="refresh"' in second
