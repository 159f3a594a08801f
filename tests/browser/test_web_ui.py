"""The web UI in a real browser (Debian's Chromium) against a live server and a real worker process with the
embedded model: sign in, upload a dataset, create a prompt, start a run, watch the stepper and the charts
update until it finishes, open the diff, compare baseline and winner, promote the winner, and see the API's
resolve return it. Every page visited must log no console error and request nothing from another host."""

from __future__ import annotations

import json

import httpx
import pytest

from accounts.models import Role
from tests.browser.browser import chromium_page
from tests.factories import MembershipFactory, UserFactory
from tests.shared_data import ape_sentiment_sample, needs_ape_sentiment
from tests.workflows.worker_processes import needs_postgres_and_redis, worker_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    needs_postgres_and_redis,
    needs_ape_sentiment,
]

PASSWORD = "a long enough secret"
WORKER_ENV = {"WORKERS": "1", "LOCAL_THREADS": "1"}
RUN_SETTINGS = {"iterations": "1", "max_calls": "160", "seed": "0"}
RUN_CONFIG = '{"minibatch_size": 4, "candidates_per_iteration": 4, "survivors": 1}'
# Where the run page is while the run works: a step finished, or the report already there.
# Kept in the tab's sessionStorage, which survives the one reload at the end: what each live update showed.
RECORD_LIVE_UPDATES = """document.addEventListener("htmx:afterSettle", () => setTimeout(() => {
  const seen = new Set(JSON.parse(sessionStorage.getItem("steppers") || "[]"));
  seen.add([...document.querySelectorAll("[data-step]")].map((step) => step.dataset.status).join(","));
  sessionStorage.setItem("steppers", JSON.stringify([...seen]));
  sessionStorage.setItem("swaps", String(Number(sessionStorage.getItem("swaps") || 0) + 1));
  // The chart on the canvas now in the page (not one drawn on a canvas the swap removed).
  if (window.Chart && window.Chart.getChart(document.querySelector("canvas[data-chart='run-scores']"))) {
    sessionStorage.setItem("chart-while-running", "yes");
  }
}, 100));"""
CHART_DRAWN = "(id) => !!window.Chart && !!window.Chart.getChart(document.querySelector(`canvas[data-chart='${id}']`))"
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def person(team):
    user = UserFactory(username="ada")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role=Role.OWNER)
    return user


def test_a_person_optimizes_a_prompt_in_the_browser_and_ships_the_winner(live_server, person, monkeypatch):
    from playwright.sync_api import expect

    # Playwright's sync API runs an event loop in this thread; the test's own database work happens before.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    origin = live_server.url
    with (
        chromium_page(origin, name="optimize-and-ship") as (page, watch),
        worker_process(name="ui", **WORKER_ENV) as worker,
    ):
        page.add_init_script(RECORD_LIVE_UPDATES)
        page.goto(f"{origin}/")
        expect(page).to_have_title("Sign in · PromptOpt")
        expect(page.locator("#id_username")).to_be_focused()
        page.fill("#id_username", "ada")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_title("Dashboard · Acme · PromptOpt")
        page.wait_for_load_state()
        page.keyboard.press("Tab")
        expect(page.locator(".skip")).to_be_focused()  # the keyboard reaches "skip to the content" first
        expect(page.locator(".empty").first).to_contain_text("Nothing here yet")

        # A dataset: the file, then its first rows and the column mapping.
        page.get_by_role("link", name="Upload a dataset").click()
        page.fill("#id_name", "APE sentiment")
        page.set_input_files(
            "#id_file",
            files=[{"name": "ape__sentiment.jsonl", "mimeType": "application/jsonl", "buffer": ape_sentiment_sample()}],
        )
        page.get_by_role("button", name="Read the file").click()
        expect(page.locator("table.preview")).to_contain_text("induce")
        expect(page.locator("#id_target_field")).to_have_value("target")
        page.fill("#id_split_map", "induce=train+validation,execute=test")
        page.get_by_role("button", name="Import every row").click()
        expect(page).to_have_title("APE sentiment v1 · Acme · PromptOpt")
        expect(page.locator("section.grid .panel").nth(2)).to_contain_text("12")  # the test split

        # A prompt, as a first draft.
        page.get_by_role("link", name="Prompts").click()
        page.get_by_role("link", name="New prompt").first.click()
        page.fill("#id_name", "Sentiment draft")
        page.fill("#id_system_instruction", "Classify the sentiment of the sentence as positive or negative.")
        page.fill("#id_template", "{{input}}")
        page.fill("#id_max_tokens", "16")
        page.get_by_role("button", name="Save the prompt and its version 1").click()
        expect(page).to_have_title("Sentiment draft · Acme · PromptOpt")

        # A run: settings, the estimate, then the start.
        worker.wait_until_running()
        page.get_by_role("link", name="Runs").click()
        page.get_by_role("link", name="New run").first.click()
        page.select_option("#id_version", label="Sentiment draft v1")
        page.select_option("#id_dataset_version", index=1)
        for name, value in RUN_SETTINGS.items():
            page.fill(f"#id_{name}", value)
        page.get_by_text("More settings (JSON)").click()
        page.fill("#id_config", RUN_CONFIG)
        page.get_by_role("button", name="Estimate the cost").click()
        expect(page.locator(".estimate")).to_contain_text("provider calls")
        page.get_by_role("button", name="Start the run").click()
        expect(page.locator("h1")).to_contain_text("Sentiment draft v1 on APE sentiment v1")

        # Watch it: the live part swaps in place every 2 s (the page only reloads once, at the end), and the
        # stepper and the chart change while the run works.
        expect(page.locator("#report-title")).to_be_visible(timeout=900_000)
        live = page.evaluate("() => ({...sessionStorage})")
        assert int(live.get("swaps", 0)) >= 2, live
        assert len(json.loads(live["steppers"])) >= 2, live  # the stepper changed in place
        assert live.get("chart-while-running") == "yes", live
        assert page.locator('[data-status="succeeded"]').count() == 5, worker.tail()
        page.wait_for_function(CHART_DRAWN, arg="run-scores")
        page.wait_for_function(CHART_DRAWN, arg="run-calls")
        expect(page.locator(".verdict")).to_contain_text("Winner minus baseline")
        winner = int(page.get_by_role("button", name="Promote").inner_text().split()[1].removeprefix("v"))
        expect(page.locator("#examples table")).to_be_visible()

        # What changed, and baseline against winner example by example.
        page.get_by_role("link", name="What changed (diff)").click()
        expect(page.locator("table.diff-table ins").first).to_be_visible()
        page.go_back()
        page.get_by_role("link", name="Compare baseline and winner example by example").click()
        expect(page.get_by_role("cell", name="reference")).to_be_visible()
        page.wait_for_function(CHART_DRAWN, arg="compare-distribution")
        page.go_back()

        # Ship it: production now points at the winner (after a confirmation).
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Promote").click()
        expect(page.locator(".messages")).to_contain_text("is now production")

        # A read key for the application, shown once, and the API's answer.
        page.get_by_role("link", name="API keys").click()
        page.fill("#id_name", "production app")
        page.get_by_role("button", name="Create key").click()
        key = page.locator("#new-key").inner_text().strip()
        resolved = httpx.get(
            f"{origin}/api/v1/teams/acme/prompts/sentiment-draft/resolve/",
            params={"label": "production"},
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["version"]["number"] == winner

        # Every main page, on a laptop and on a phone: no console error, nothing sideways.
        pages = [
            "/t/acme/",
            "/t/acme/prompts/",
            "/t/acme/prompts/sentiment-draft/",
            f"/t/acme/prompts/sentiment-draft/v{winner}/",
            "/t/acme/prompts/sentiment-draft/v1/playground/",
            "/t/acme/datasets/",
            "/t/acme/runs/",
            "/t/acme/evaluations/",
            "/t/acme/compare/",
            "/t/acme/api-keys/",
            "/password/",
        ]
        for size in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
            page.set_viewport_size(size)
            for path in pages:
                page.goto(f"{origin}{path}")
                expect(page.locator("h1").first).to_be_visible()
                assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways at {size['width']} px"
        page.goto(f"{origin}/t/acme/")
        page.wait_for_function(CHART_DRAWN, arg="dash-scores")
        assert watch.problems == []
