from studio.prompts.extra_networks import NetworkTag, extract_network_tags


def test_tags_are_removed_and_returned_in_order():
    text, tags = extract_network_tags("a cat <lora:detail_tweaker:0.6>, <lyco:style:1:0.5> sitting")
    assert text == "a cat ,  sitting"
    assert tags == [NetworkTag("lora", ("detail_tweaker", "0.6")), NetworkTag("lyco", ("style", "1", "0.5"))]
    assert tags[0].name == "detail_tweaker" and tags[1].text == "<lyco:style:1:0.5>"


def test_a_prompt_without_tags_is_unchanged_and_angle_brackets_alone_are_text():
    assert extract_network_tags("a <cat> and (dog:1.2)") == ("a <cat> and (dog:1.2)", [])
