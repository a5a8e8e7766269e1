"""reclift.pipelines."""
