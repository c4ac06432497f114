"""Send an image by URL and a local file as base64 to a vision model."""

import base64
import pathlib
import sys

from langchain_core.messages import HumanMessage

from langchain_nebula import ChatNebula

# A file you name, or the small picture that ships beside this script.
path = pathlib.Path(
    sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).with_name("photo.png")
)
image_data = base64.b64encode(path.read_bytes()).decode()

vision = ChatNebula(model="Qwen/Qwen2.5-VL-7B-Instruct")
message = HumanMessage(
    content=[
        {"type": "text", "text": "Describe both images in one sentence each."},
        {
            "type": "image",
            "url": "https://qianwen-res.oss-cn-beijing.aliyuncs.com/Qwen-VL/assets/demo.jpeg",
        },
        {"type": "image", "base64": image_data, "mime_type": "image/png"},
    ]
)
print(vision.invoke([message]).content)
