"""One ChatDriver per platform (and per way it delivers: polling or webhook, HTTP or Socket
Mode): what a person does in that platform's chat, acted on its sandbox as the real
platform would deliver it to the real bridge process."""
