"""Remote attach: `damontui --remote host` runs `damontui record -o - --stream` over
OpenSSH and shows the stream live (client.py); serve.py is the remote end's control."""
