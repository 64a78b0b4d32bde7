"""Running the jobs where users run them: a wheel, spark-submit lines, result comparison."""
