"""Separate a reasoning model's thinking from its answer, invoked and streamed."""

from langchain_nebula import ChatNebula

thinker = ChatNebula(model="deepseek-ai/DeepSeek-R1")
reply = thinker.invoke("What is 17 * 3?")
print("reasoning:", reply.additional_kwargs.get("reasoning_content"))
print("answer:", reply.content)

print("streamed: ", end="")
for chunk in thinker.stream("What is 12 * 12?"):
    if chunk.additional_kwargs.get("reasoning_content"):
        print(".", end="", flush=True)  # one dot per piece of thinking
    print(chunk.text, end="", flush=True)
print()
