"""The playlist job's config: its embedding stage reproduces the catalogue encode it always did, and the job
asks Ray for the peak of that stage and the trainer."""

from jobs.playlist import JOB


def test_embed_section_defaults_survive_a_partial_preset():
    cfg = JOB.resolve("smoke")  # the preset sets only embed.cpus_per_actor
    assert cfg.embed.cpus_per_actor == 0.5
    assert cfg.embed.text_fields == ["text"] and cfg.embed.max_length == 256 and cfg.embed.normalize is False
    assert cfg.embed.encoder == "minilm" and cfg.embed.batch_size == 64 and cfg.embed.part_rows >= 9742


def test_resources_are_the_peak_of_embedding_and_training():
    assert JOB.resources(JOB.resolve("smoke")) == {"CPU": 1.0}
    cfg = JOB.resolve("cpu", overrides=["embed.num_actors=3", "embed.cpus_per_actor=1"])
    assert JOB.resources(cfg) == {"CPU": 3.0}
    assert JOB.resources(JOB.resolve("gpu")) == {"CPU": 8.0, "GPU": 2.0}
