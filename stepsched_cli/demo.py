"""``make demo``: the seed example schedule, planned and driven by the library."""

from __future__ import annotations

from stepsched_cli import StepSchedule, StepScheduler


def main() -> None:
    """Print the seed example (lr=0.1, step_size=30, gamma=0.1) as intervals and as a run."""
    schedule = StepSchedule(initial_lr=0.1, step_size=30, gamma=0.1)
    print("lr=0.1, step_size=30, gamma=0.1")
    for segment in schedule.segments(decays=3):
        end = "" if segment.end is None else str(segment.end)
        print(f"  steps {segment.start}-{end}: lr = {segment.lr!r}")
    scheduler = StepScheduler.from_schedule(schedule)
    for _ in range(45):
        scheduler.step()
    print(
        f"after 45 scheduler.step() calls: position {scheduler.position}, lr {scheduler.get_lr()!r}"
    )
    print(f"state_dict: {scheduler.state_dict()}")


if __name__ == "__main__":
    main()
