"""`pertool view`: a local web app over a directory of run directories (leaderboard, reports,
side-by-side answers, runs in progress shown live)."""
